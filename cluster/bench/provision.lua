-- wrk script: one device per request through POST /api/v1/devices/provision (the SMA generates the key pair), each
-- with a new serial: $SMA_SERIAL_PREFIX-<thread>-<n>. The provisioner API key is in $SMA_API_KEY. Answers other
-- than 201 are counted and the first one is printed at the end ("refused: N (first: STATUS BODY)").
local counter = 0
local threads = {}

function setup(thread)
    thread:set("id", counter)
    counter = counter + 1
    table.insert(threads, thread)
end

failed = 0
first = nil

function response(status, headers, body)
    if status ~= 201 then
        failed = failed + 1
        if first == nil then first = status .. " " .. string.sub(body or "", 1, 200) end
    end
end

function done(summary, latency, requests)
    for _, t in ipairs(threads) do
        local f = t:get("failed")
        if f and f > 0 then io.write(string.format("refused: %d (first: %s)\n", f, t:get("first"))) end
    end
end

local n = 0
local prefix

function init(args)
    prefix = assert(os.getenv("SMA_SERIAL_PREFIX"), "SMA_SERIAL_PREFIX is not set")
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
    wrk.headers["Authorization"] = "Bearer " .. assert(os.getenv("SMA_API_KEY"), "SMA_API_KEY is not set")
end

function request()
    n = n + 1
    return wrk.format(nil, "/api/v1/devices/provision", nil,
        string.format('{"device_serial": "%s-%d-%d", "device_family": "bench"}', prefix, id or 0, n))
end
