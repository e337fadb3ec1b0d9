"""The PostgreSQL schema as a versioned list of migrations, and `apply_migrations`.

Layout, and why:

- ``memories`` is declaratively partitioned by ``RANGE (time_us)``, one partition per calendar month (UTC),
  created on demand for the months writes land in (`ensure_partitions`). Retention and bulk deletes of old data
  can then drop or scan one month instead of a table of tens of millions of rows, and every index stays the
  size of a month. PostgreSQL requires the partition key in every unique index, so the primary key is
  ``(org_id, time_us, id)``; ids are ULIDs (unique by construction), and `get` finds one by ``(org_id, id)``.
- ``seq`` (one database-wide sequence) orders memories written in the same microsecond, and is the
  insertion order the ranked search's work bound counts back along: no single process's clock decides it.
- ``metadata_json`` is TEXT, not JSONB: JSONB reorders keys and drops duplicates, and memories must come back
  byte for byte. ``tags`` is ``text[]`` so a tag filter is an exact whole-element match (``@>``).
- Keyword search (see `search.py`): ``search_terms`` holds the content's stemmed words as ``" w1  w2 "`` (the
  term frequencies BM25 needs are substring counts), ``n_terms`` the document length, and ``tsv`` the distinct
  stems plus scope tokens for the org, agent and session (``~o:``, ``~a:``, ``~s:``; a content word never
  contains ``~``), under a GIN index. Scoped searches narrow inside the GIN index, and document frequencies for
  one org are GIN counts. The GIN pending list (``fastupdate``) is on but small (1 MB): off, every insert
  updates ~40 posting lists in place and batch ingest runs 3-4x slower; a large pending list is what made
  other projects report multi-second stalls, since one unlucky insert merges it for everyone.
- ``corpus_stats`` holds each org's document count and total length for BM25, and a count of its writes, as
  16 shards per org (a writer adds to the shard of its backend) so concurrent writers of one org do not queue
  on one row. ``term_stats`` holds, sharded the same way, how many of an org's memories contain each stem:
  BM25's document frequencies, kept exact by every write and delete in the same transaction.
- ``memtrace_append`` (`APPEND_FUNCTION`) is the write path of a small write: dedup locks, probe, insert and
  statistics in one server-side call, one round trip; ``memtrace_append_facts`` (`APPEND_FACTS_FUNCTION`) is
  that of a small write with fact versions, and also repeats `memtrace.facts.place_version` and the fact locks
  of `events._lock_facts` in SQL. Both name the memories columns, so a migration that changes what a write
  stores replaces them (a new function, or a new signature, where replicas of the old code still call the
  old one); a change to the placement rule or the fact locks changes `APPEND_FACTS_FUNCTION` in the same
  commit, through a new migration.
- Metadata (orgs, agents, sessions, API keys, Arc instances) in plain tables; ``change_counters`` holds the
  version numbers servers poll to notice revoked keys and changed Arc instances.

Migrations run under a session-level advisory lock on a dedicated connection, each in its own transaction, so
any number of processes may open a fresh database at once and exactly one applies each migration. Append new
migrations at the end; never edit a released one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg

from ...errors import MemtraceError
from .database import lock_key


def _with_replaced(function_sql: str, old: str, new: str) -> str:
    """`function_sql` with its one `old` passage replaced by `new`: a released function's text stays as it was
    installed (a migration is never edited), and its successor is written as the change it makes."""
    if function_sql.count(old) != 1:
        raise AssertionError("the passage to replace is not in the function exactly once")
    return function_sql.replace(old, new)


APPEND_FUNCTION_V1 = """
CREATE OR REPLACE FUNCTION memtrace_append(p_org text, p_since bigint, p_lock_class integer, p_buckets integer[],
                                           p_rows json) RETURNS integer[] LANGUAGE plpgsql AS $fn$
-- Appends p_rows (a JSON array of objects keyed by column name) to p_org, skipping a row whose dedup key the org
-- stored after p_since or an earlier row of the call holds (p_since NULL: no dedup), and returns the skipped
-- rows' 1-based positions. The caller names the dedup lock buckets (sorted), so every writer of a key, through
-- this function or not, takes the same lock before it looks.
DECLARE
    v_skipped integer[];
    v_documents bigint;
    v_terms bigint;
BEGIN
    IF cardinality(p_buckets) > 0 THEN
        PERFORM pg_advisory_xact_lock(p_lock_class, u.b)
        FROM unnest(p_buckets) WITH ORDINALITY AS u(b, n) ORDER BY u.n;
    END IF;
    -- A new statement, so a new snapshot: it sees every write that committed before the locks were ours.
    WITH given AS MATERIALIZED (
        SELECT * FROM ROWS FROM (json_to_recordset(p_rows) AS (
            id text, time_us bigint, agent_id text, session_id text, memory_type text, event_type text,
            content text, metadata_json text, tags text[], dedup_key text, importance double precision,
            parent_id text, expires_us bigint, fact_key text, valid_from_us bigint, valid_until_us bigint,
            superseded_by text, search_terms text, n_terms integer, tsv text
        )) WITH ORDINALITY AS r(id, time_us, agent_id, session_id, memory_type, event_type, content, metadata_json,
                                 tags, dedup_key, importance, parent_id, expires_us, fact_key, valid_from_us,
                                 valid_until_us, superseded_by, search_terms, n_terms, tsv, n)
    ), skipped AS MATERIALIZED (
        SELECT k.n FROM (SELECT g.dedup_key, g.n, row_number() OVER (PARTITION BY g.dedup_key ORDER BY g.n) AS r
                         FROM given g WHERE g.dedup_key IS NOT NULL AND p_since IS NOT NULL) AS k
        WHERE k.r > 1 OR EXISTS (SELECT 1 FROM memories m
                                 WHERE m.org_id = p_org AND m.dedup_key = k.dedup_key AND m.time_us > p_since)
    ), inserted AS (
        INSERT INTO memories (id, org_id, time_us, agent_id, session_id, memory_type, event_type, content,
                              metadata_json, tags, dedup_key, importance, parent_id, expires_us, fact_key,
                              valid_from_us, valid_until_us, superseded_by, search_terms, n_terms, tsv)
        SELECT g.id, p_org, g.time_us, g.agent_id, g.session_id, g.memory_type, g.event_type, g.content,
               g.metadata_json, COALESCE(g.tags, '{}'), g.dedup_key, g.importance, g.parent_id, g.expires_us,
               g.fact_key, g.valid_from_us, g.valid_until_us, g.superseded_by, g.search_terms, g.n_terms,
               g.tsv::tsvector
        FROM given g WHERE g.n NOT IN (SELECT s.n FROM skipped s) ORDER BY g.n
        RETURNING n_terms, tsv
    ), counted AS (
        -- each stem's documents, its rows locked in sorted order as every write and delete does (no deadlock)
        INSERT INTO term_stats (org_id, term, shard, documents)
        SELECT p_org, c.term, pg_backend_pid() % 16, c.documents
        FROM (SELECT t.lexeme AS term, count(*) AS documents FROM inserted i CROSS JOIN LATERAL unnest(i.tsv) AS t
              WHERE left(t.lexeme, 1) <> '~' GROUP BY t.lexeme) AS c
        ORDER BY c.term
        ON CONFLICT (org_id, term, shard) DO UPDATE SET documents = term_stats.documents + EXCLUDED.documents
    )
    SELECT (SELECT COALESCE(array_agg(s.n::integer ORDER BY s.n), '{}') FROM skipped s), count(*),
           COALESCE(sum(i.n_terms), 0)
    INTO v_skipped, v_documents, v_terms FROM inserted i;
    -- then the org's counts, always after the term rows (as every write and delete takes them)
    IF v_documents > 0 THEN
        INSERT INTO corpus_stats (org_id, shard, documents, total_terms, writes)
        VALUES (p_org, pg_backend_pid() % 16, v_documents, v_terms, 1)
        ON CONFLICT (org_id, shard) DO UPDATE SET documents = corpus_stats.documents + EXCLUDED.documents,
            total_terms = corpus_stats.total_terms + EXCLUDED.total_terms, writes = corpus_stats.writes + 1;
    END IF;
    RETURN v_skipped;
END
$fn$"""
"""`memtrace_append` as migration 7 installed it (released; replaced by `APPEND_FUNCTION`). Its dedup probe, an
``EXISTS`` beside ``OR``, was planned generically (a session's sixth call on) as a hash of every memory of the
org's dedup window: each small write read the whole day's rows (2,000 rows for a write of one memory into an org
with 2,000 memories that day; 75 ms for a write of 8 at 25,000)."""

APPEND_FUNCTION = _with_replaced(
    APPEND_FUNCTION_V1,
    "        SELECT k.n FROM (SELECT g.dedup_key, g.n, row_number() OVER (PARTITION BY g.dedup_key ORDER BY g.n) AS r\n"
    "                         FROM given g WHERE g.dedup_key IS NOT NULL AND p_since IS NOT NULL) AS k\n"
    "        WHERE k.r > 1 OR EXISTS (SELECT 1 FROM memories m\n"
    "                                 WHERE m.org_id = p_org AND m.dedup_key = k.dedup_key AND m.time_us > p_since)\n",
    "        -- one lookup in the dedup index per key (lateral, kept from being hashed or flattened by its LIMIT)\n"
    "        SELECT k.n FROM (SELECT g.dedup_key, g.n, row_number() OVER (PARTITION BY g.dedup_key ORDER BY g.n) AS r\n"
    "                         FROM given g WHERE g.dedup_key IS NOT NULL AND p_since IS NOT NULL) AS k\n"
    "        LEFT JOIN LATERAL (SELECT true AS stored FROM memories m\n"
    "                           WHERE m.org_id = p_org AND m.dedup_key = k.dedup_key AND m.time_us > p_since\n"
    "                           LIMIT 1) AS f ON true\n"
    "        WHERE k.r > 1 OR f.stored\n",
)
"""`memtrace_append`, the write path of `PostgresEventStore.append` (see `events.py`). Plain SQL, no dynamic
statements: its plans are cached per connection by PL/pgSQL, which works through PgBouncer in transaction mode
(one statement, no client-side prepared statement). Cached plans are generic after a session's fifth call, so
each statement must be planned well without the values: the dedup probe is a lookup per key (see
`events._DEDUP_PROBE`), never a condition the planner may answer by reading the org's window."""

APPEND_FACTS_FUNCTION_V1 = """
CREATE OR REPLACE FUNCTION memtrace_append_facts(p_org text, p_since bigint, p_lock_class integer,
                                                 p_buckets integer[], p_keys text[], p_key_locks bigint[],
                                                 p_ids text[], p_id_locks bigint[], p_rows json)
    RETURNS json LANGUAGE plpgsql AS $fn$
-- Appends p_rows as `memtrace_append` does, placing each version of a fact as `memtrace.facts.place_version`
-- does inside the Python write transaction (`events._append`): the same locks in the same order, the same
-- reads, the same decisions. The caller names the fact locks: p_key_locks[i] is the lock of fact key p_keys[i],
-- p_id_locks[i] that of an unkeyed memory p_ids[i] (blake2b, computed in Python). A supersedes target with a
-- key the caller did not name is answered {"missing": [its keys]}, having changed nothing; the caller calls
-- again with them. Otherwise the answer is {"skipped": [1-based positions], "rows": [[id, valid_until_us,
-- superseded_by], ...]} for the rows it stored. A bad supersedes target raises SQLSTATE MT404, MT409 or MT422
-- with place_version's message (the field in DETAIL), and nothing is stored.
DECLARE
    v_row record;
    v_at record;
    v_locks bigint[];
    v_missing text[];
    v_probe text[];
    v_seen text[] := '{}';
    v_skipped integer[] := '{}';
    v_ids text[] := '{}';
    v_untils bigint[] := '{}';
    v_bys text[] := '{}';
    v_at_call integer;
    v_cut text;
    v_tsvs text[] := '{}';
    v_cuts text[];
    v_t bigint;
    v_until bigint;
    v_by text;
    v_terms bigint := 0;
    v_field text;
BEGIN
    -- The fact locks, as `events._lock_facts` takes them: every key written, and every supersedes target by
    -- its key when it has one (a keyed writer and an explicit one then serialise), else by its id; ascending,
    -- before the dedup locks.
    WITH given AS (SELECT * FROM json_to_recordset(p_rows) AS (fact_key text, supersedes text[])),
    targets AS (SELECT DISTINCT u.t FROM given g CROSS JOIN LATERAL unnest(g.supersedes) AS u(t)),
    found AS (SELECT t.t, (SELECT m.fact_key FROM memories m WHERE m.org_id = p_org AND m.id = t.t LIMIT 1) AS k
              FROM targets t),
    wanted AS (SELECT g.fact_key AS k, NULL::text AS i FROM given g WHERE g.fact_key IS NOT NULL
               UNION SELECT f.k, CASE WHEN f.k IS NULL THEN f.t END FROM found f)
    SELECT array_agg(DISTINCT w.k) FILTER (WHERE w.i IS NULL AND NOT (w.k = ANY(p_keys))),
           array_agg(DISTINCT COALESCE(p_key_locks[array_position(p_keys, w.k)],
                                       p_id_locks[array_position(p_ids, w.i)]))
    INTO v_missing, v_locks FROM wanted w;
    IF v_missing IS NOT NULL THEN
        RETURN json_build_object('missing', v_missing);
    END IF;
    IF v_locks IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(u.k) FROM unnest(v_locks) AS u(k) ORDER BY u.k;
    END IF;
    IF cardinality(p_buckets) > 0 THEN
        PERFORM pg_advisory_xact_lock(p_lock_class, u.b)
        FROM unnest(p_buckets) WITH ORDINALITY AS u(b, n) ORDER BY u.n;
    END IF;
    -- Each statement from here on takes a new snapshot: it sees every write that committed before the locks
    -- were ours.
    -- The keys first, then the probe by `= ANY`: a keyed version usually has no dedup key, and a probe joined
    -- to the rows was planned as a scan of the org's whole window.
    IF p_since IS NOT NULL THEN
        SELECT array_agg(DISTINCT g.dedup_key) INTO v_probe
        FROM json_to_recordset(p_rows) AS g(dedup_key text) WHERE g.dedup_key IS NOT NULL;
        IF v_probe IS NOT NULL THEN
            SELECT COALESCE(array_agg(DISTINCT m.dedup_key), '{}') INTO v_seen FROM memories m
            WHERE m.org_id = p_org AND m.dedup_key = ANY(v_probe) AND m.time_us > p_since;
        END IF;
    END IF;
    -- Row by row, each stored before the next is placed: a later version of the call then finds it as the
    -- Python path's BatchLedger finds an earlier one of its batch (the later sequence number wins a tie in
    -- `at`, the earlier one in `after`), and a cut of it is an update of its row.
    FOR v_row IN
        SELECT * FROM ROWS FROM (json_to_recordset(p_rows) AS (
            id text, time_us bigint, agent_id text, session_id text, memory_type text, event_type text,
            content text, metadata_json text, tags text[], dedup_key text, importance double precision,
            parent_id text, expires_us bigint, fact_key text, valid_from_us bigint, valid_until_us bigint,
            superseded_by text, supersedes text[], search_terms text, n_terms integer, tsv text
        )) WITH ORDINALITY AS r(id, time_us, agent_id, session_id, memory_type, event_type, content, metadata_json,
                                 tags, dedup_key, importance, parent_id, expires_us, fact_key, valid_from_us,
                                 valid_until_us, superseded_by, supersedes, search_terms, n_terms, tsv, n)
        ORDER BY r.n
    LOOP
        IF p_since IS NOT NULL AND v_row.dedup_key IS NOT NULL THEN
            IF v_row.dedup_key = ANY(v_seen) THEN
                v_skipped := v_skipped || v_row.n::integer;
                CONTINUE;
            END IF;
            v_seen := v_seen || v_row.dedup_key;
        END IF;
        v_until := v_row.valid_until_us;
        v_by := v_row.superseded_by;
        v_cuts := '{}';
        v_t := COALESCE(v_row.valid_from_us, v_row.time_us);
        IF v_row.fact_key IS NOT NULL THEN
            SELECT m.id, COALESCE(m.valid_from_us, m.time_us) AS valid_from, m.valid_until_us, m.superseded_by,
                   m.content, m.metadata_json INTO v_at
            FROM memories m WHERE m.org_id = p_org AND m.fact_key = v_row.fact_key AND m.valid_from_us <= v_t
            ORDER BY m.valid_from_us DESC, m.seq DESC LIMIT 1;
            IF FOUND AND (v_at.valid_until_us IS NULL OR v_at.valid_until_us > v_t) THEN
                -- the same memory again for its key (facts.fingerprint: content and metadata)
                IF v_at.content = v_row.content
                   AND COALESCE(v_at.metadata_json, '') = COALESCE(v_row.metadata_json, '') THEN
                    v_skipped := v_skipped || v_row.n::integer;
                    CONTINUE;
                END IF;
                v_until := v_at.valid_until_us;
                v_by := v_at.superseded_by;
                v_cuts := ARRAY[v_at.id];
            ELSE
                SELECT m.id, COALESCE(m.valid_from_us, m.time_us) AS valid_from INTO v_at
                FROM memories m WHERE m.org_id = p_org AND m.fact_key = v_row.fact_key AND m.valid_from_us > v_t
                ORDER BY m.valid_from_us, m.seq LIMIT 1;
                IF FOUND THEN
                    v_until := v_at.valid_from;
                    v_by := v_at.id;
                END IF;
            END IF;
        END IF;
        FOR i IN 1 .. COALESCE(cardinality(v_row.supersedes), 0) LOOP
            CONTINUE WHEN v_row.supersedes[i] = ANY(v_cuts);
            v_field := format('supersedes[%s]', i - 1);
            SELECT m.id, COALESCE(m.valid_from_us, m.time_us) AS valid_from, m.valid_until_us, m.superseded_by
            INTO v_at FROM memories m WHERE m.org_id = p_org AND m.id = v_row.supersedes[i];
            IF NOT FOUND THEN
                RAISE EXCEPTION USING ERRCODE = 'MT404', DETAIL = v_field,
                    MESSAGE = format('%s: memory %s not found', v_field, v_row.supersedes[i]);
            END IF;
            IF v_at.valid_until_us IS NOT NULL THEN
                RAISE EXCEPTION USING ERRCODE = 'MT409', DETAIL = v_field,
                    MESSAGE = format('%s: memory %s was already superseded by %s', v_field, v_row.supersedes[i],
                                     COALESCE(v_at.superseded_by, 'None'));
            END IF;
            IF v_at.valid_from > v_t THEN
                RAISE EXCEPTION USING ERRCODE = 'MT422', DETAIL = v_field,
                    MESSAGE = format('invalid %s: memory %s became valid after this memory''s valid_from',
                                     v_field, v_row.supersedes[i]);
            END IF;
            v_cuts := v_cuts || v_row.supersedes[i];
        END LOOP;
        IF cardinality(v_cuts) > 0 THEN
            UPDATE memories m SET valid_until_us = v_t, superseded_by = v_row.id
            WHERE m.org_id = p_org AND m.id = ANY(v_cuts);
            FOREACH v_cut IN ARRAY v_cuts LOOP  -- a row of this call: what it ends as is answered
                v_at_call := array_position(v_ids, v_cut);
                IF v_at_call IS NOT NULL THEN
                    v_untils[v_at_call] := v_t;
                    v_bys[v_at_call] := v_row.id;
                END IF;
            END LOOP;
        END IF;
        INSERT INTO memories (id, org_id, time_us, agent_id, session_id, memory_type, event_type, content,
                              metadata_json, tags, dedup_key, importance, parent_id, expires_us, fact_key,
                              valid_from_us, valid_until_us, superseded_by, search_terms, n_terms, tsv)
        VALUES (v_row.id, p_org, v_row.time_us, v_row.agent_id, v_row.session_id, v_row.memory_type,
                v_row.event_type, v_row.content, v_row.metadata_json, COALESCE(v_row.tags, '{}'),
                v_row.dedup_key, v_row.importance, v_row.parent_id, v_row.expires_us, v_row.fact_key,
                v_row.valid_from_us, v_until, v_by, v_row.search_terms, v_row.n_terms, v_row.tsv::tsvector);
        v_ids := v_ids || v_row.id;
        v_untils := v_untils || v_until;
        v_bys := v_bys || v_by;
        v_tsvs := v_tsvs || v_row.tsv;
        v_terms := v_terms + v_row.n_terms;
    END LOOP;
    IF cardinality(v_ids) > 0 THEN
        -- each stem's documents, its rows locked in sorted order, then the org's counts (as every write does)
        INSERT INTO term_stats (org_id, term, shard, documents)
        SELECT p_org, c.term, pg_backend_pid() % 16, c.documents
        FROM (SELECT t.lexeme AS term, count(*) AS documents
              FROM unnest(v_tsvs) AS d(tsv) CROSS JOIN LATERAL unnest(d.tsv::tsvector) AS t
              WHERE left(t.lexeme, 1) <> '~' GROUP BY t.lexeme) AS c
        ORDER BY c.term
        ON CONFLICT (org_id, term, shard) DO UPDATE SET documents = term_stats.documents + EXCLUDED.documents;
        INSERT INTO corpus_stats (org_id, shard, documents, total_terms, writes)
        VALUES (p_org, pg_backend_pid() % 16, cardinality(v_ids), v_terms, 1)
        ON CONFLICT (org_id, shard) DO UPDATE SET documents = corpus_stats.documents + EXCLUDED.documents,
            total_terms = corpus_stats.total_terms + EXCLUDED.total_terms, writes = corpus_stats.writes + 1;
    END IF;
    -- what the stored rows ended as: a later row of the call may have cut an earlier one
    RETURN json_build_object('skipped', v_skipped, 'rows',
        (SELECT COALESCE(json_agg(json_build_array(x.id, x.until, x.by)), '[]')
         FROM unnest(v_ids, v_untils, v_bys) AS x(id, until, by)));
END
$fn$"""
"""`memtrace_append_facts` as migration 8 installed it (released; replaced by `APPEND_FACTS_FUNCTION`). Under
generic plans its dedup probe (``dedup_key = ANY(keys) AND time_us > since``) read the org's dedup window
through the primary key (what `events._DEDUP_PROBE` says of the same condition)."""

APPEND_FACTS_FUNCTION = _with_replaced(
    APPEND_FACTS_FUNCTION_V1,
    "            SELECT COALESCE(array_agg(DISTINCT m.dedup_key), '{}') INTO v_seen FROM memories m\n"
    "            WHERE m.org_id = p_org AND m.dedup_key = ANY(v_probe) AND m.time_us > p_since;\n",
    "            -- one lookup in the dedup index per key (lateral, kept from being flattened by its LIMIT)\n"
    "            SELECT COALESCE(array_agg(u.k), '{}') INTO v_seen FROM unnest(v_probe) AS u(k)\n"
    "            CROSS JOIN LATERAL (SELECT 1 FROM memories m\n"
    "                                WHERE m.org_id = p_org AND m.dedup_key = u.k AND m.time_us > p_since LIMIT 1) AS f;\n",
)
"""`memtrace_append_facts`, the write path of a small write with fact versions (`key=`, `supersedes=`): one
round trip where the Python transaction (`events._append`) takes seven or more. It must decide exactly as
`memtrace.facts.place_version` does; `tests/postgres/test_append_facts_function.py` compares the two paths.
It is `APPEND_FACTS_FUNCTION_V1` with its dedup probe written as `APPEND_FUNCTION`'s, a lookup per key (same
signature, same answers)."""

MIGRATIONS: list[list[str]] = [
    # 1: memories (partitioned), their keyword statistics, and metadata.
    [
        "CREATE SEQUENCE memories_seq",
        """CREATE TABLE memories (
            org_id text COLLATE "C" NOT NULL,
            time_us bigint NOT NULL,
            id text COLLATE "C" NOT NULL,
            seq bigint NOT NULL DEFAULT nextval('memories_seq'),
            agent_id text COLLATE "C" NOT NULL,
            session_id text COLLATE "C",
            memory_type text COLLATE "C" NOT NULL,
            event_type text COLLATE "C" NOT NULL,
            content text NOT NULL,
            metadata_json text,
            tags text[] COLLATE "C" NOT NULL DEFAULT '{}',
            dedup_key text COLLATE "C",
            importance double precision,
            parent_id text COLLATE "C",
            search_terms text NOT NULL,
            n_terms integer NOT NULL,
            tsv tsvector NOT NULL,
            PRIMARY KEY (org_id, time_us, id)
        ) PARTITION BY RANGE (time_us)""",
        "CREATE INDEX memories_id ON memories (org_id, id)",
        "CREATE INDEX memories_agent_time ON memories (org_id, agent_id, time_us)",
        "CREATE INDEX memories_session_time ON memories (org_id, session_id, time_us) WHERE session_id IS NOT NULL",
        "CREATE INDEX memories_dedup ON memories (org_id, dedup_key, time_us) WHERE dedup_key IS NOT NULL",
        # fastupdate with a small pending list: inserting ~40 lexemes straight into the GIN tree costs ~0.5 ms per
        # memory (batch ingest 1,400/s measured); the pending list takes them 3-4x cheaper, and 1 MB bounds the
        # merge that one unlucky insert (or autovacuum) pays. bench/RESULTS.md has the figures.
        "CREATE INDEX memories_tsv ON memories USING gin (tsv) WITH (fastupdate = on, gin_pending_list_limit = 1024)",
        """CREATE TABLE corpus_stats (
            org_id text COLLATE "C" NOT NULL,
            shard smallint NOT NULL,
            documents bigint NOT NULL,
            total_terms bigint NOT NULL,
            writes bigint NOT NULL,  -- only grows: the org's change counter (validates cached term counts)
            PRIMARY KEY (org_id, shard)
        )""",
        """CREATE TABLE orgs (
            id text COLLATE "C" PRIMARY KEY,
            name text NOT NULL,
            created_us bigint NOT NULL
        )""",
        """CREATE TABLE agents (
            id text COLLATE "C" NOT NULL,
            org_id text COLLATE "C" NOT NULL,
            name text COLLATE "C" NOT NULL,
            description text,
            config_json text,
            created_us bigint NOT NULL,
            last_active_us bigint,
            PRIMARY KEY (org_id, id),
            UNIQUE (org_id, name)
        )""",
        """CREATE TABLE sessions (
            org_id text COLLATE "C" NOT NULL,
            id text COLLATE "C" NOT NULL,
            agent_id text COLLATE "C" NOT NULL,
            status text NOT NULL,
            metadata_json text,
            created_us bigint NOT NULL,
            updated_us bigint NOT NULL,
            closed_us bigint,
            PRIMARY KEY (org_id, id)
        )""",
        "CREATE INDEX sessions_agent ON sessions (org_id, agent_id)",
        """CREATE TABLE api_keys (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            org_id text COLLATE "C" NOT NULL,
            name text NOT NULL,
            key_hash text NOT NULL,
            key_prefix text COLLATE "C" NOT NULL,
            permissions text NOT NULL,
            created_us bigint NOT NULL,
            expires_us bigint,
            enabled boolean NOT NULL DEFAULT true,
            UNIQUE (org_id, name)
        )""",
        "CREATE INDEX api_keys_prefix ON api_keys (key_prefix)",
        """CREATE TABLE arc_instances (
            org_id text COLLATE "C" PRIMARY KEY,
            id text COLLATE "C" NOT NULL UNIQUE,
            url text NOT NULL,
            database text NOT NULL,
            measurement text NOT NULL,
            token_cipher bytea NOT NULL,
            token_nonce bytea NOT NULL,
            admin_cipher bytea,
            admin_nonce bytea,
            created_us bigint NOT NULL,
            updated_us bigint NOT NULL
        )""",
        "CREATE TABLE change_counters (name text PRIMARY KEY, version bigint NOT NULL)",
        "INSERT INTO change_counters (name, version) VALUES ('api_keys', 0), ('arc_instances', 0)",
    ],
    # The audit trail (memtrace.audit), one for every replica: read newest first by id, per organisation or
    # all; pruned by time.
    [
        """CREATE TABLE audit_log (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            time_us bigint NOT NULL,
            org_id text COLLATE "C" NOT NULL,
            key_id bigint,
            actor text NOT NULL,
            action text COLLATE "C" NOT NULL,
            filter_json text,
            counts_json text
        )""",
        "CREATE INDEX audit_log_org ON audit_log (org_id, id)",
        "CREATE INDEX audit_log_time ON audit_log (time_us)",
    ],
    # Expiry (memtrace.sweep): when a memory stops being returned, NULL for never. Adding a nullable column
    # without a default rewrites nothing. The index is partial, so writes without an expiry pay nothing for it;
    # it is what a sweep looks expired memories up by.
    [
        "ALTER TABLE memories ADD COLUMN expires_us bigint",
        "CREATE INDEX memories_expiry ON memories (org_id, expires_us) WHERE expires_us IS NOT NULL",
    ],
    # Retention policies (memtrace.retention): per organisation, per memory type or '*' for every type without
    # its own row; max_age_us NULL keeps memories forever.
    [
        """CREATE TABLE retention_policies (
            org_id text COLLATE "C" NOT NULL,
            memory_type text COLLATE "C" NOT NULL,
            max_age_us bigint,
            updated_us bigint NOT NULL,
            PRIMARY KEY (org_id, memory_type)
        )""",
    ],
    # Each org's document frequency of every indexed stem, kept by every write and delete (search.py reads a
    # term's count with one index lookup instead of visiting every memory that holds it: 450 ms of a 540 ms
    # agent-scoped search at 1M memories). Sharded like corpus_stats so concurrent writers of one org do not
    # queue on the rows of common words; fillfactor leaves room for HOT updates. Existing memories are counted
    # from their tsvectors (scope tokens start with "~", content stems never do).
    [
        """CREATE TABLE term_stats (
            org_id text COLLATE "C" NOT NULL,
            term text COLLATE "C" NOT NULL,
            shard smallint NOT NULL,
            documents bigint NOT NULL,
            PRIMARY KEY (org_id, term, shard)
        ) WITH (fillfactor = 70)""",
        """INSERT INTO term_stats (org_id, term, shard, documents)
            SELECT m.org_id, u.lexeme, 0, count(*) FROM memories m CROSS JOIN LATERAL unnest(m.tsv) AS u
            WHERE left(u.lexeme, 1) <> '~' GROUP BY m.org_id, u.lexeme""",
    ],
    # Facts that change (memtrace.facts): a memory's fact key and validity. The index is partial, so unkeyed
    # writes do not pay for it; it finds a key's versions by valid_from (the current one is the last).
    [
        'ALTER TABLE memories ADD COLUMN fact_key text COLLATE "C"',
        "ALTER TABLE memories ADD COLUMN valid_from_us bigint",
        "ALTER TABLE memories ADD COLUMN valid_until_us bigint",
        'ALTER TABLE memories ADD COLUMN superseded_by text COLLATE "C"',
        "CREATE INDEX memories_fact ON memories (org_id, fact_key, valid_from_us) WHERE fact_key IS NOT NULL",
    ],
    # A write in one round trip (`APPEND_FUNCTION_V1`): the dedup locks, the probe, the insert and the keyword
    # statistics in one server-side call instead of six statements (34 ms of a single write on a busy machine
    # was waiting on them). A later migration that changes what a write stores replaces the function.
    [APPEND_FUNCTION_V1],
    # A small write with fact versions in one round trip (`APPEND_FACTS_FUNCTION_V1`): the fact locks, the
    # placement reads, the cuts, the insert and the statistics server-side, instead of seven or more statements
    # (the LangGraph store's `put` writes a keyed fact). A new function beside `memtrace_append`, which a
    # replica still running the code before it keeps calling.
    [APPEND_FACTS_FUNCTION_V1],
    # `memtrace_append` again, with the same signature and answers (replicas of the code before it call it
    # unchanged): its dedup probe looks each key up instead of reading the org's dedup window (`APPEND_FUNCTION`).
    [APPEND_FUNCTION],
    # `memtrace_append_facts` again, with the same signature and answers: its dedup probe looks each key up
    # instead of reading the org's dedup window (`APPEND_FACTS_FUNCTION`).
    [APPEND_FACTS_FUNCTION],
    # Which memories are superseded, per org and agent: partial, so only superseded versions are in it and a
    # write that supersedes nothing pays nothing. A count asks it whether any memory in its scope is superseded;
    # when none is, "current only" holds for every row and the count needs no row, only an index (events.count).
    ["CREATE INDEX memories_superseded ON memories (org_id, agent_id) WHERE valid_until_us IS NOT NULL"],
    # The dashboard's session pages (`page_sessions`), most recently updated first, of the whole org or of one
    # status: an index walk from the newest instead of a sort of every session of the org. Session rows are
    # written when opened and when updated or closed, not per memory (the SQLite store's migration has the
    # figures).
    [
        "CREATE INDEX sessions_updated ON sessions (org_id, updated_us, created_us, id)",
        "CREATE INDEX sessions_status_updated ON sessions (org_id, status, updated_us, created_us, id)",
    ],
]

SCHEMA_VERSION = len(MIGRATIONS)
_MIGRATION_LOCK = lock_key("memtrace.migrations")
_PARTITION_LOCK = lock_key("memtrace.partitions")


class SchemaTooNewError(MemtraceError):
    """The database was migrated by a newer memtrace than this one; refusing to touch it."""


def schema_version(conn: psycopg.Connection[Any]) -> int:
    """The version the database is at (0 for an empty database)."""
    exists = conn.execute("SELECT to_regclass('memtrace_schema') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return 0
    row = conn.execute("SELECT version FROM memtrace_schema WHERE id = 1").fetchone()
    return int(row[0]) if row else 0


def apply_migrations(conn: psycopg.Connection[Any]) -> list[int]:
    """Bring the database to `SCHEMA_VERSION` and return the migration numbers this call applied (none if
    another process already did). `conn` must be a dedicated autocommit connection: the advisory lock is
    session-level, held across the migrations' own transactions. Raises `SchemaTooNewError` if the database
    is ahead of this code."""
    version = schema_version(conn)
    if version > SCHEMA_VERSION:
        raise _too_new(version)
    if version == SCHEMA_VERSION:
        return []  # the common start-up: no lock taken
    applied: list[int] = []
    conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS memtrace_schema "
            "(id integer PRIMARY KEY CHECK (id = 1), version integer NOT NULL)"
        )
        conn.execute("INSERT INTO memtrace_schema (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING")
        version = schema_version(conn)  # again, under the lock: another process may have just finished
        if version > SCHEMA_VERSION:
            raise _too_new(version)
        for number, statements in enumerate(MIGRATIONS[version:], start=version + 1):
            with conn.transaction():
                for statement in statements:
                    conn.execute(statement)  # literal SQL, not user input
                conn.execute("UPDATE memtrace_schema SET version = %s WHERE id = 1", (number,))
            applied.append(number)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))
    return applied


def _too_new(version: int) -> SchemaTooNewError:
    return SchemaTooNewError(
        f"the PostgreSQL schema is at version {version}, newer than this memtrace knows ({SCHEMA_VERSION}): "
        "upgrade memtrace before opening this database"
    )


# ----------------------------------------------------------------------------------------------- partitions


def month_of(time_us: int) -> tuple[int, int]:
    """(year, month) in UTC of a time in microseconds since the epoch."""
    moment = datetime.fromtimestamp(time_us / 1_000_000, UTC)
    return moment.year, moment.month


def _month_start_us(year: int, month: int) -> int:
    return int(datetime(year, month, 1, tzinfo=UTC).timestamp()) * 1_000_000


def partition_name(year: int, month: int) -> str:
    return f"memories_p{year:04d}{month:02d}"


def ensure_partitions(conn: psycopg.Connection[Any], months: set[tuple[int, int]]) -> None:
    """Create the monthly partitions `months` that do not exist yet. Runs in its own transaction on an autocommit
    connection, under a transaction advisory lock, so concurrent writers never race on the same DDL."""
    missing = [
        m
        for m in sorted(months)
        if not conn.execute("SELECT to_regclass(%s) IS NOT NULL", (partition_name(*m),)).fetchone()[0]  # type: ignore[index]
    ]
    if not missing:
        return
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_PARTITION_LOCK,))
        for year, month in missing:
            nxt = (year + 1, 1) if month == 12 else (year, month + 1)
            name = partition_name(year, month)
            # Names and bounds are made from integers only; DDL takes no bound parameters.
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF memories "
                f"FOR VALUES FROM ({_month_start_us(year, month)}) TO ({_month_start_us(*nxt)})"
            )


__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "SchemaTooNewError",
    "apply_migrations",
    "ensure_partitions",
    "month_of",
    "partition_name",
    "schema_version",
]
