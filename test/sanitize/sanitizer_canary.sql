-- Run first by test/sanitize/run (copied into the scratch copy's sql/):
-- the server under test has the sanitizer runtime mapped and the
-- instrumented pg_governor.so loaded; without both the run proves nothing.
SELECT count(*) FILTER (WHERE l LIKE '%/libclang_rt.asan-%' OR l LIKE '%/libclang_rt.ubsan%') > 0 AS sanitizer_runtime,
       count(*) FILTER (WHERE l LIKE '%/pg_governor.so') > 0 AS pg_governor_loaded
  FROM regexp_split_to_table(pg_read_file('/proc/self/maps'), E'\n') AS l;
