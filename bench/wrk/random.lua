-- wrk script used by every scenario of bench/bench.py, so that the client does the same
-- per-request work everywhere (including /healthz).
--
--   wrk ... -s bench/wrk/random.lua URL -- READS_FILE WRITE_PERCENT TAG
--
-- READS_FILE   file with one request path per line; each GET picks one at random ("-": none)
-- WRITE_PERCENT 0-100: share of requests that are POST /api/integrations/users with a unique
--              email (TAG, thread number and a per-thread counter make it unique)
-- TAG          distinguishes runs, so that emails never repeat on a reused database
--
-- Headers given with -H (the API key) are sent on every request. At the end one line
-- "WRKJSON {...}" is printed with the figures bench.py parses (requests, duration, latency
-- percentiles, socket errors, status counts and one sample body of each non-2xx status).

local threads = {}
local next_tid = 0

function setup(thread)
  next_tid = next_tid + 1
  thread:set("tid", next_tid)
  table.insert(threads, thread)
end

function init(args)
  paths = {}
  local file = args[1] or "-"
  if file ~= "-" then
    for line in io.lines(file) do
      if #line > 0 then paths[#paths + 1] = line end
    end
  end
  write_pct = tonumber(args[2] or "0") or 0
  tag = args[3] or "x"
  counter = 0
  statuses = {}
  samples = {}
  math.randomseed(os.time() + (tid or 0) * 7919)
  for _ = 1, 10 do math.random() end
  post_headers = {}
  for k, v in pairs(wrk.headers) do post_headers[k] = v end
  post_headers["Content-Type"] = "application/json"
end

function request()
  if write_pct > 0 and (#paths == 0 or math.random(100) <= write_pct) then
    counter = counter + 1
    local body = string.format(
      '{"name":"Bench User %d %d","email":"bench.%s.t%d.%d@example.com"}',
      tid, counter, tag, tid, counter)
    return wrk.format("POST", "/api/integrations/users", post_headers, body)
  end
  return wrk.format("GET", paths[math.random(#paths)])
end

function response(status, headers, body)
  local s = tostring(status)
  statuses[s] = (statuses[s] or 0) + 1
  if status >= 300 and samples[s] == nil then
    samples[s] = string.sub(body or "", 1, 300)
  end
end

local function esc(s)
  s = string.gsub(s, '[%c"\\]', function(c)
    return string.format("\\u%04x", string.byte(c))
  end)
  return s
end

function done(summary, latency, requests)
  local st, sm = {}, {}
  for _, t in ipairs(threads) do
    local ts = t:get("statuses") or {}
    for k, v in pairs(ts) do st[k] = (st[k] or 0) + v end
    local tsm = t:get("samples") or {}
    for k, v in pairs(tsm) do if sm[k] == nil then sm[k] = v end end
  end
  local parts = {}
  for k, v in pairs(st) do parts[#parts + 1] = string.format('"%s":%d', k, v) end
  local sparts = {}
  for k, v in pairs(sm) do sparts[#sparts + 1] = string.format('"%s":"%s"', k, esc(v)) end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,' ..
    '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"statuses":{%s},"samples":{%s}}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout,
    table.concat(parts, ","), table.concat(sparts, ",")))
end
