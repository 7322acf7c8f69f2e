-- wrk script: POST request bodies from $SMA_BODY_FILE (one JSON body a line, e.g. 20,000 distinct camera-made tokens),
-- a new body per request, cycling through the file; each thread starts at a different offset. The API key is in
-- $SMA_API_KEY. Used for /validate (one token a body) and /v1/validate/batch (1,000 tokens a body).
local counter = 0

function setup(thread)
    thread:set("id", counter)
    counter = counter + 1
end

local bodies = {}
local i = 0

function init(args)
    local f = assert(io.open(os.getenv("SMA_BODY_FILE"), "r"))
    for line in f:lines() do
        if #line > 0 then bodies[#bodies + 1] = line end
    end
    f:close()
    assert(#bodies > 0, "no bodies in " .. os.getenv("SMA_BODY_FILE"))
    -- Spread the threads' starting points over the file.
    local threads = tonumber(os.getenv("SMA_WRK_THREADS") or "2")
    i = math.floor((id or 0) * #bodies / threads) % #bodies
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
    wrk.headers["Authorization"] = "Bearer " .. os.getenv("SMA_API_KEY")
end

function request()
    i = i + 1
    if i > #bodies then i = 1 end
    return wrk.format(nil, nil, nil, bodies[i])
end
