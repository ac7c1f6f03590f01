/*
 * api_tools: GET /api/tools and GET /api/tools/{id} (docs/http-api.md).
 */
#include <jansson.h>
#include <string.h>

#include "app/api/api_request.h"
#include "app/app.h"

static void tools_route(mt_request_t *req, void *data)
{
    (void)data;
    const mt_toolbox_t *box = mt_jobs()->tools;
    const char *path = mt_request_path(req);
    if (mt_api_check_query(req, NULL) < 0) /* no route here takes a query parameter */
        return;
    if (strcmp(path, "/api/tools") == 0 || strcmp(path, "/api/tools/") == 0) {
        json_t *arr = json_array();
        for (size_t i = 0; i < mt_toolbox_count(box); i++)
            json_array_append_new(arr, mt_tool_to_json(mt_toolbox_get(box, i)));
        json_t *doc = json_pack("{s:o}", "tools", arr);
        mt_respond_json(req, 200, doc);
        json_decref(doc);
        return;
    }
    const char *id = path + strlen("/api/tools/");
    const mt_tool_t *tool = mt_toolbox_find(box, id);
    if (!tool) {
        mt_respond_error(req, 404, "no such tool '%s'", id);
        return;
    }
    json_t *doc = mt_tool_to_json(tool);
    mt_respond_json(req, 200, doc);
    json_decref(doc);
}

int mt_tools_api_register(mt_stack_t *stack)
{
    if (mt_route_add(stack, "GET", "/api/tools", 0, tools_route, NULL) < 0 ||
        mt_route_add(stack, "GET", "/api/tools", MT_ROUTE_PREFIX, tools_route, NULL) < 0)
        return -1;
    return 0;
}
