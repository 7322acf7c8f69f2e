-- wrk script: POST the /validate body in $SMA_BODY_FILE with the API key in $SMA_API_KEY.
local f = assert(io.open(os.getenv("SMA_BODY_FILE"), "r"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("SMA_API_KEY")
