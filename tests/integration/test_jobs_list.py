"""GET /api/jobs as the dashboard pages it: the user and time-range filters, keyset paging (before_id) that
neither skips nor repeats a job while new ones arrive, and the total capped at 10,000 for filtered lists.

The jobs are written straight into the stack's database (SQLite, or PostgreSQL under
MULETEER_TEST_BACKEND=postgresql), finished, so no handler touches them and their times are the test's."""
import json
import urllib.parse

from conftest import write

T0 = 1764000000 * 1000000  # 2025-11-24T16:00:00Z, in microseconds
ALICE = "alice-key-0123456789abcdef"
BOB = "bob-key-ZYXWVUTSRQ9876543210"
ROOT = "root-key-adminadminadmin0000"


def iso(us):
    s, frac = divmod(us, 1000000)
    import datetime
    return datetime.datetime.fromtimestamp(s, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + ".%06dZ" % frac


def add_jobs(s, count, first_time=T0, step_us=1000000, tool="true", user=None, state="ok"):
    """count finished jobs, created first_time, first_time + step_us, ...; their ids, oldest first."""
    rows = s.sql('INSERT INTO job (tool_id, tool_version, params, state, queue, create_time, update_time, "user")'
                 ' SELECT ?, \'1.0\', \'{}\', ?, \'job-handlers\', ? + i * ?, ? + i * ?, ?'
                 ' FROM (WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ? - 1)'
                 ' SELECT i FROM n) AS seq ORDER BY i RETURNING id',
                 (tool, state, first_time, step_us, first_time, step_us, user, count))
    return sorted(r[0] for r in rows)


def get(s, query, key=None):
    status, _, data = s.request("GET", "/api/jobs?" + query, headers={"X-API-Key": key} if key else None)
    return status, json.loads(data)


def ids(doc):
    return [int(j["id"]) for j in doc["jobs"]]


def test_time_range_user_and_tool_filters(servers):
    s = servers([])
    old = add_jobs(s, 10, T0, 60 * 1000000, tool="true", user="alice")        # T0 .. T0+9min
    new = add_jobs(s, 10, T0 + 3600 * 1000000, 60 * 1000000, tool="echo", user="bob")  # an hour later
    status, doc = get(s, "created_after=%s" % urllib.parse.quote(iso(T0 + 3600 * 1000000)))
    assert status == 200 and ids(doc) == list(reversed(new)), "created_after is inclusive"
    # created_before is exclusive: the job created exactly then is left out
    status, doc = get(s, "created_before=%s" % iso(T0 + 5 * 60 * 1000000))
    assert ids(doc) == list(reversed(old[:5])) and doc["total"] == 5 and doc["total_capped"] is False
    status, doc = get(s, "created_after=%s&created_before=%s" % (iso(T0 + 2 * 60 * 1000000), iso(T0 + 4 * 60 * 1000000)))
    assert ids(doc) == [old[3], old[2]]
    # the forms mt_time_iso8601 writes, and shorter ones
    assert ids(get(s, "created_before=2025-11-24T16:01:00Z")[1]) == [old[0]]
    assert ids(get(s, "created_before=2025-11-24T16:00:00.000001Z")[1]) == [old[0]]
    assert ids(get(s, "created_before=2025-11-24T16:01Z")[1]) == [old[0]]
    assert get(s, "created_before=2025-11-24")[1]["total"] == 0
    assert get(s, "created_after=2025-11-25")[1]["total"] == 0
    assert ids(get(s, "user=bob&tool_id=echo&limit=3")[1]) == list(reversed(new))[:3]
    assert get(s, "user=bob&tool_id=true")[1]["total"] == 0
    assert get(s, "user=carol")[1]["jobs"] == []
    for bad in ("created_after=yesterday", "created_before=2025-11-24T16:00:00", "created_after=2025-11-24T16:00:00+01:00",
                "created_before=2025-02-29", "created_after=2025-11-24T24:00:00Z", "created_before=1969-12-31"):
        status, doc = get(s, bad)
        name = bad.split("=")[0]
        assert status == 400 and doc["err_msg"].startswith(name + ":"), (bad, doc)
    # a job whose id is the newest but whose time is the oldest (hosts' clocks disagree): ranges find it by its
    # time, wherever its id lies, first since the list is by id
    late = add_jobs(s, 1, T0 - 1000000)[0]
    assert ids(get(s, "created_before=%s" % iso(T0 + 60 * 1000000))[1]) == [late, old[0]]
    assert ids(get(s, "created_after=%s&created_before=%s" % (iso(T0 - 1000000), iso(T0 + 1)))[1]) == [late, old[0]]
    assert ids(get(s, "created_before=%s&before_id=%d" % (iso(T0 + 60 * 1000000), late))[1]) == [old[0]]
    status, doc = get(s, "before_id=0")
    assert status == 400 and "before_id" in doc["err_msg"], doc
    status, doc = get(s, "created_since=2025-11-24")
    assert status == 400 and "created_since" in doc["err_msg"], doc


def test_keyset_pages_neither_skip_nor_repeat_while_jobs_arrive(servers):
    s = servers([])
    first = add_jobs(s, 230, T0, 1000)
    seen, before, pages = [], None, 0
    while True:
        query = "limit=40" + ("&before_id=%d" % before if before else "")
        status, doc = get(s, query)
        assert status == 200
        seen += ids(doc)
        pages += 1
        # new jobs arrive between the pages: with offset paging each would push one already shown onto the
        # next page; below the key they change nothing
        add_jobs(s, 7, T0 + 10**9 + pages * 10**7, 1000)
        if doc["next_before_id"] is None:
            break
        assert doc["next_before_id"] == str(ids(doc)[-1])
        before = int(doc["next_before_id"])
    assert seen == list(reversed(first)), "every job once, newest first"
    assert pages == 6  # 5 full pages of 40, then 30
    # the filters hold on every page; the total is of the whole filtered list, not of what is below the key
    status, doc = get(s, "tool_id=true&created_before=%s&limit=100&before_id=%d" % (iso(T0 + 10**9), first[100]))
    assert ids(doc) == list(reversed(first[:100])) and doc["total"] == 230
    # offset still pages, below the key too
    assert ids(get(s, "limit=10&offset=5&before_id=%d" % first[50])[1]) == list(reversed(first[35:45]))


def test_a_filtered_total_is_capped_at_ten_thousand(servers):
    s = servers([])
    add_jobs(s, 10005, T0, 1000, tool="true")
    add_jobs(s, 3, T0 + 10**9, 1000, tool="echo")
    status, doc = get(s, "tool_id=true&limit=5")
    assert status == 200 and doc["total"] == 10000 and doc["total_capped"] is True and len(doc["jobs"]) == 5
    status, doc = get(s, "tool_id=echo")
    assert doc["total"] == 3 and doc["total_capped"] is False
    # unfiltered, the kept count: exact at any size
    status, doc = get(s, "limit=1")
    assert doc["total"] == 10008 and doc["total_capped"] is False
    # a created_before range holding few of many jobs: still every one of them, in order
    status, doc = get(s, "created_before=%s&limit=1000" % iso(T0 + 3 * 1000))
    assert doc["total"] == 3 and len(doc["jobs"]) == 3 and doc["next_before_id"] is None


def test_user_filter_is_an_admins(servers, tmp_path):
    ini = write(tmp_path, "keys.ini", "[muleteer]\napi-key = %s:alice\napi-key = %s:bob\napi-key = %s:root\n"
                                      "admin-users = root\n" % (ALICE, BOB, ROOT))
    s = servers(["--ini", ini], start=False)
    s.api_key = ROOT
    s.start()
    alice = add_jobs(s, 3, T0, 1000, user="alice")
    bob = add_jobs(s, 2, T0 + 10**6, 1000, user="bob")
    assert ids(get(s, "user=alice", ROOT)[1]) == list(reversed(alice))
    assert ids(get(s, "user=bob", ROOT)[1]) == list(reversed(bob))
    assert get(s, "", ROOT)[1]["total"] == 5
    # a non-admin's list stays theirs, named or not
    assert ids(get(s, "", ALICE)[1]) == list(reversed(alice))
    assert ids(get(s, "user=alice", ALICE)[1]) == list(reversed(alice))
    status, doc = get(s, "user=bob", ALICE)
    assert status == 403 and doc["err_msg"].startswith("user:"), doc
    status, doc = get(s, "created_after=2025-01-01", BOB)
    assert status == 200 and ids(doc) == list(reversed(bob)) and doc["total"] == 2
