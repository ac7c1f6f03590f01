-- wrk script for the submit benchmark: every request is POST /api/jobs {"tool_id": "true"}.
wrk.method = "POST"
wrk.body = '{"tool_id": "true"}'
wrk.headers["Content-Type"] = "application/json"
