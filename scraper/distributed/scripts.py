"""The Redis frontier's state transitions, each one Lua script (atomic on the server).

Flow position: inside ``RedisFrontier``; every method that changes the frontier runs exactly one
of these. Redis runs a script as a single step, so no other worker sees a half-made change
(scrapy-redis marks a URL seen and queues it in two commands: a crash in between loses it).

Keys (every one starts with the crawl's prefix ``{name}:``; the braces are a cluster hash tag, so
a crawl lives on one shard; scripts build key names from the prefix, all in that slot):

    state          hash: queued, leased, seen, duplicates, dead, reclaimed, done, ids, tokens,
                   sends_refused, acks_rejected (late workers fenced out)
    conf           hash: concurrency, delay, throttle_start, lifo (the first worker's settings
                   win)
    s:<3 hex>      dedup bucket: the packed 7-byte tails of the 64-bit fingerprints that start
                   with those 12 bits (4,096 buckets: few keys, so ~7 bytes per URL at 1M URLs)
    req            hash: request id -> the Request as a record (``records.py``, JSON; never a
                   pickle: a worker only parses what it leases)
    meta           hash: request id -> {"h": host, "s": queue score, "u": url}
    q:<host>       sorted set: the host's queued request ids, by score (priority, then age:
                   newest first unless FRONTIER_ORDER is fifo)
    h:<host>       hash: active (requests in flight), next (Redis time the host may next be
                   contacted), last (latest send), delay (robots.txt), throttle (AutoThrottle)
    ready          sorted set: host -> next, for exactly the hosts with queued requests and a
                   free concurrency slot (each script keeps this true)
    delayed        sorted set: request id -> not-before time (retries)
    leases         sorted set: request id -> lease expiry
    lease          hash: request id -> {"t": fencing token, "w": worker, "h": host, "slot": 0|1}
    expiries       hash: request id -> times its lease expired
    dead           list: dead letters, JSON {url, reason, expiries, worker}; reason
                   lease_expired, or invalid_record (a stored request that does not parse)
    workers        sorted set: worker id -> latest heartbeat; wstats hash: worker id -> stats
    parts          hash: worker id -> {"file": its part file's name, "items": items written}
    seeding, seeded, merged    strings: who seeds the start requests; seeding done; merged
    clock          string, tests only: the time every script takes as now (see ``now``)

Times are seconds of Redis's own clock (``TIME``), so workers on machines whose clocks differ
still agree on when a host may be contacted; they are stored at full precision (``stamp``).
Scripts return numbers as strings where a Lua number would be cut to an integer.
"""

# Shared by every script: key names, the clock, and the ``ready`` invariant.
PRELUDE = """
local P = ARGV[1]
local STATE = P .. 'state'
local function now()
  -- A crawl whose 'clock' key is set runs on that time: tests drive every transition on a
  -- clock of their own (tests/test_frontier.py) instead of sleeping past Redis's.
  local fake = redis.call('GET', P .. 'clock')
  if fake then return tonumber(fake) end
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
-- A time as a string that reads back as the same number (tostring keeps only 14 digits, which
-- can put a host's next time a little after the moment it was computed for).
local function stamp(x)
  return string.format('%.17g', x)
end
local function conf()
  local c = redis.call('HMGET', P .. 'conf', 'concurrency', 'delay', 'throttle_start')
  return tonumber(c[1]) or 1, tonumber(c[2]) or 0, tonumber(c[3]) or 0
end
local CONCURRENCY, BASE_DELAY, THROTTLE_START = conf()
local function host_delay(host)
  local h = redis.call('HMGET', P .. 'h:' .. host, 'delay', 'throttle')
  return math.max(BASE_DELAY, tonumber(h[1]) or 0, tonumber(h[2]) or THROTTLE_START)
end
-- A host is in 'ready' (scored by its next time) iff it has queued work and a free slot.
local function schedule(host)
  local h = redis.call('HMGET', P .. 'h:' .. host, 'active', 'next')
  if (tonumber(h[1]) or 0) < CONCURRENCY and redis.call('ZCARD', P .. 'q:' .. host) > 0 then
    redis.call('ZADD', P .. 'ready', tonumber(h[2]) or 0, host)
  else
    redis.call('ZREM', P .. 'ready', host)
  end
end
local function enqueue(id, meta)
  redis.call('ZADD', P .. 'q:' .. meta.h, meta.s, id)
  redis.call('HINCRBY', STATE, 'queued', 1)
  schedule(meta.h)
end
-- Dedup and enqueue one request (ARGV[i .. i + 6], as ADD's). Returns its new id, or 0 for
-- a URL seen before.
local function add(i)
  local seen_key = P .. 's:' .. ARGV[i]
  local tail = ARGV[i + 1]
  local bucket = redis.call('GET', seen_key) or ''
  local found = false
  local from = 1
  while from <= #bucket do  -- each pass moves 'from' forward: bounded by the bucket's length
    local at = string.find(bucket, tail, from, true)
    if not at then break end
    if (at - 1) % 7 == 0 then found = true break end
    from = at + 1
  end
  if found and ARGV[i + 2] ~= '1' then
    redis.call('HINCRBY', STATE, 'duplicates', 1)
    return 0
  end
  if not found then
    -- SET rather than APPEND: APPEND over-allocates the string for growth it rarely gets.
    redis.call('SET', seen_key, bucket .. tail)
    redis.call('HINCRBY', STATE, 'seen', 1)
  end
  local id = redis.call('HINCRBY', STATE, 'ids', 1)
  local order = redis.call('HGET', P .. 'conf', 'lifo') == '1' and -1 or 1
  local meta = {h = ARGV[i + 4], s = order * id - tonumber(ARGV[i + 5]) * 1e12, u = ARGV[i + 6]}
  redis.call('HSET', P .. 'req', id, ARGV[i + 3])
  redis.call('HSET', P .. 'meta', id, cjson.encode(meta))
  enqueue(id, meta)
  return id
end
local function meta_of(id)
  return cjson.decode(redis.call('HGET', P .. 'meta', id))
end
local function forget(id)
  redis.call('HDEL', P .. 'req', id)
  redis.call('HDEL', P .. 'meta', id)
  redis.call('HDEL', P .. 'expiries', id)
end
-- The fetch under a lease that still holds its host slot is over (its response came, or it
-- is given up) at time t: free the slot, and keep the host's delay from now as well as from
-- the send. The time a send is recorded can come well before the request reaches the site (a
-- worker further away, or descheduled on a busy machine); counting from the end as well keeps
-- the spacing the site sees at the delay whatever the workers' lags, when
-- CONCURRENT_REQUESTS_PER_DOMAIN is 1.
local function end_fetch(rec, t, factor)
  local hk = P .. 'h:' .. rec.h
  local after = t + host_delay(rec.h) * factor
  if after > (tonumber(redis.call('HGET', hk, 'next')) or 0) then
    redis.call('HSET', hk, 'next', stamp(after))
  end
  redis.call('HINCRBY', hk, 'active', -1)
  rec.slot = 0
end
-- Ends a lease whose fetch is over (end_fetch ran, if it held its slot).
local function end_lease(id)
  redis.call('ZREM', P .. 'leases', id)
  redis.call('HDEL', P .. 'lease', id)
  redis.call('HINCRBY', STATE, 'leased', -1)
end
-- The current lease of id if token fences it in, else nil and why not.
local function current_lease(id, token)
  local raw = redis.call('HGET', P .. 'lease', id)
  if not raw then return nil, 'gone' end
  local rec = cjson.decode(raw)
  if rec.t ~= token then return nil, 'stale' end
  return rec
end
-- The request leaves the crawl as a dead letter (its lease, if any, already ended).
local function bury(id, reason, expiries, worker)
  redis.call('RPUSH', P .. 'dead', cjson.encode(
    {url = meta_of(id).u, reason = reason, expiries = expiries, worker = worker}))
  redis.call('HINCRBY', STATE, 'dead', 1)
  forget(id)
end
"""

# ARGV: prefix, bucket (3 hex), fingerprint tail (7 bytes), dont_filter, data, host, priority, url
# (without its password: for dead letters)
# Dedup and enqueue in one step. Returns the new request id, or 0 for a duplicate.
ADD = PRELUDE + "return add(2)\n"

# ARGV: prefix, worker, lease timeout, max expiries, delay factor, longest wait
# Reclaims expired leases and due retries, then leases one request from a host whose time has
# come and whose concurrency is free. Returns {1, id, token, data, wait} or {0, wait}: wait is
# the seconds until something may be ready (a host's time, a retry, a lease expiry).
LEASE = (
    PRELUDE
    + """
local t = now()
local worker, timeout, max_expiries = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local factor, longest = tonumber(ARGV[5]), tonumber(ARGV[6])
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'leases', '-inf', t, 'LIMIT', 0, 100)) do
  local rec = cjson.decode(redis.call('HGET', P .. 'lease', id))
  -- Its request may have reached the site as late as now: the host's delay counts from here.
  if rec.slot == 1 then end_fetch(rec, t, 1) end
  end_lease(id)
  redis.call('HINCRBY', STATE, 'reclaimed', 1)
  if redis.call('HINCRBY', P .. 'expiries', id, 1) >= max_expiries then
    bury(id, 'lease_expired', max_expiries, rec.w)
  else
    enqueue(id, meta_of(id))
  end
  schedule(rec.h)
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'delayed', '-inf', t, 'LIMIT', 0, 100)) do
  redis.call('ZREM', P .. 'delayed', id)
  redis.call('HINCRBY', STATE, 'queued', -1)  -- enqueue counts it again
  enqueue(id, meta_of(id))
end
local function wait()
  local w = longest
  for _, key in ipairs({'ready', 'delayed', 'leases'}) do
    local first = redis.call('ZRANGE', P .. key, 0, 0, 'WITHSCORES')
    if #first > 0 then w = math.min(w, tonumber(first[2]) - t) end
  end
  return tostring(math.max(w, 0))
end
local due = redis.call('ZRANGEBYSCORE', P .. 'ready', '-inf', t, 'LIMIT', 0, 1)
if #due == 0 then return {0, wait()} end
local host = due[1]
local id = redis.call('ZPOPMIN', P .. 'q:' .. host)[1]
local token = tostring(redis.call('HINCRBY', STATE, 'tokens', 1))
redis.call('ZADD', P .. 'leases', t + timeout, id)
redis.call('HSET', P .. 'lease', id, cjson.encode({t = token, w = worker, h = host, slot = 1}))
redis.call('HINCRBY', STATE, 'queued', -1)
redis.call('HINCRBY', STATE, 'leased', 1)
local hk = P .. 'h:' .. host
redis.call('HINCRBY', hk, 'active', 1)
redis.call('HSET', hk, 'next', stamp(t + host_delay(host) * factor), 'last', stamp(t))
schedule(host)
-- '' for a record someone deleted: a nil would cut the reply short; the worker buries it.
return {1, id, token, redis.call('HGET', P .. 'req', id) or '', wait()}
"""
)

# ARGV: prefix, id, token, retry delay ('' = none), data (the request with its attempts, or ''),
# delay factor. The fetch ended (see end_fetch). Without a retry the lease stays until ack (the
# page's output is not safe yet); with one, the request waits in 'delayed'. Returns 1, or 0 if
# fenced out.
RELEASE = (
    PRELUDE
    + """
local id, retry = ARGV[2], ARGV[4]
local rec = current_lease(id, ARGV[3])
if not rec then return 0 end
local t = now()
if rec.slot == 1 then
  end_fetch(rec, t, tonumber(ARGV[6]))
  if retry == '' then redis.call('HSET', P .. 'lease', id, cjson.encode(rec)) end
end
if retry ~= '' then
  end_lease(id)
  if ARGV[5] ~= '' then redis.call('HSET', P .. 'req', id, ARGV[5]) end
  redis.call('ZADD', P .. 'delayed', t + tonumber(retry), id)
  redis.call('HINCRBY', STATE, 'queued', 1)
end
schedule(rec.h)
return 1
"""
)

# ARGV: prefix, id, token, delay factor, then the page's new requests, 7 values each (ADD's
# bucket .. url). The request is done for good, in one step and only while the lease is this
# worker's: its new requests are deduplicated and queued, the lease ends, and a fetch still
# holding its host slot ends too (the host's next time counts from now, see end_fetch). Returns
# the number of new requests queued, or 'gone' / 'stale' when the lease is no longer this
# worker's (it expired and went back to the queue, or elsewhere): then nothing changes, since
# whoever holds the request now does the page and queues its requests.
ACK = (
    PRELUDE
    + """
local id = ARGV[2]
local rec, why = current_lease(id, ARGV[3])
if not rec then
  redis.call('HINCRBY', STATE, 'acks_rejected', 1)
  return why
end
local added = 0
for i = 5, #ARGV, 7 do
  if add(i) ~= 0 then added = added + 1 end
end
if rec.slot == 1 then end_fetch(rec, now(), tonumber(ARGV[4])) end
end_lease(id)
forget(id)
redis.call('HINCRBY', STATE, 'done', 1)
schedule(rec.h)
return added
"""
)

# ARGV: prefix, id, token, worker. The leased request's record does not parse: it ends as a
# dead letter (invalid_record) and its host slot is freed, while the lease is this worker's.
# Returns 1, or 0 if fenced out.
BURY = (
    PRELUDE
    + """
local id = ARGV[2]
local rec = current_lease(id, ARGV[3])
if not rec then return 0 end
if rec.slot == 1 then end_fetch(rec, now(), 1) end
end_lease(id)
bury(id, 'invalid_record', 0, ARGV[4])
schedule(rec.h)
return 1
"""
)

# ARGV: prefix, worker, lease timeout, stats JSON, part JSON ('' = no part file), then id,
# token pairs. Heartbeat: extends this worker's current leases and publishes its stats and what
# its part file holds. Returns the tokens of leases it no longer holds.
EXTEND = (
    PRELUDE
    + """
local t = now()
redis.call('ZADD', P .. 'workers', t, ARGV[2])
redis.call('HSET', P .. 'wstats', ARGV[2], ARGV[4])
if ARGV[5] ~= '' then redis.call('HSET', P .. 'parts', ARGV[2], ARGV[5]) end
local lost = {}
for i = 6, #ARGV, 2 do
  if current_lease(ARGV[i], ARGV[i + 1]) then
    redis.call('ZADD', P .. 'leases', 'XX', t + tonumber(ARGV[3]), ARGV[i])
  else
    table.insert(lost, ARGV[i + 1])
  end
end
return lost
"""
)

# ARGV: prefix, host, delay factor, id, token (both '' for a request held under no lease, such
# as robots.txt). A request to host is being sent now: the delay counts from here, not from the
# lease. Returns 1, or 'gone' / 'stale' when the lease is no longer this worker's: the request
# must not be sent, since its host slot may be someone else's by now.
MARK_SENT = (
    PRELUDE
    + """
local host = ARGV[2]
if ARGV[4] ~= '' then
  local rec, why = current_lease(ARGV[4], ARGV[5])
  if not rec then
    redis.call('HINCRBY', STATE, 'sends_refused', 1)
    return why
  end
end
local t = now()
local hk = P .. 'h:' .. host
local next_time = math.max(tonumber(redis.call('HGET', hk, 'next')) or 0,
                           t + host_delay(host) * tonumber(ARGV[3]))
redis.call('HSET', hk, 'last', stamp(t), 'next', stamp(next_time))
schedule(host)
return 1
"""
)

# ARGV: prefix, host, seconds. Contact host no earlier than that from now (Retry-After).
DEFER = (
    PRELUDE
    + """
local host = ARGV[2]
local hk = P .. 'h:' .. host
local until_time = now() + tonumber(ARGV[3])
if until_time > (tonumber(redis.call('HGET', hk, 'next')) or 0) then
  redis.call('HSET', hk, 'next', stamp(until_time))
  schedule(host)
end
"""
)

# ARGV: prefix, host, delay, field ('delay' for robots.txt Crawl-delay, 'throttle').
# A stricter delay learnt mid-flight applies to the next request too.
SET_DELAY = (
    PRELUDE
    + """
local host, delay = ARGV[2], tonumber(ARGV[3])
local hk = P .. 'h:' .. host
redis.call('HSET', hk, ARGV[4], tostring(delay))
local h = redis.call('HMGET', hk, 'last', 'next')
local last, next_time = tonumber(h[1]), tonumber(h[2]) or 0
if last and last + delay > next_time then
  redis.call('HSET', hk, 'next', stamp(last + delay))
  schedule(host)
end
"""
)
