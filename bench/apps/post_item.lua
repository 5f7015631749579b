-- bench/real_apps.sh, row fastapi-pydantic: every request is POST (the URL's path) with the JSON
-- body of item.json, which sits beside this script, and Content-Type: application/json.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local file = assert(io.open(dir .. "item.json", "rb"))
wrk.method = "POST"
wrk.body = (file:read("*a"):gsub("%s+$", ""))
wrk.headers["Content-Type"] = "application/json"
file:close()
