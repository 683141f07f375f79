-- placeholder until the schema helper lands
CREATE EXTENSION IF NOT EXISTS pg_trgm;
