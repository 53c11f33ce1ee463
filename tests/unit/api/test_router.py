from berth.api.http.router import Route, Router


async def _h(req, eng):  # pragma: no cover - never called
    return None


def test_static_dynamic_and_path_params() -> None:
    r = Router()
    r.add_all(
        [
            Route("GET", "/containers/json", _h),
            Route("POST", "/containers/{name}/start", _h),
            Route("GET", "/images/{name:path}/json", _h),
        ]
    )
    route, params, _ = r.match("POST", "/containers/abc/start")
    assert route is not None and params == {"name": "abc"}
    route, params, _ = r.match("GET", "/images/127.0.0.1:5000/busybox:1/json")
    assert route is not None and params == {"name": "127.0.0.1:5000/busybox:1"}
    route, _, exists = r.match("DELETE", "/containers/json")
    assert route is None and exists
    route, _, exists = r.match("GET", "/nope")
    assert route is None and not exists
