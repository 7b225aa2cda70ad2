use reqwest::StatusCode;

use crate::support::TestApp;

#[tokio::test]
async fn health_readiness_and_metrics() {
    let app = TestApp::new().await;
    let live = reqwest::get(app.url("/healthz")).await.unwrap();
    assert_eq!(live.status(), StatusCode::OK);
    let ready = reqwest::get(app.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(ready.text().await.unwrap(), "ready");

    let metrics = reqwest::get(app.url("/metrics")).await.unwrap();
    assert_eq!(metrics.status(), StatusCode::OK);
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = metrics.text().await.unwrap();
    assert!(text.contains("http_requests_total"), "{text}");
    assert!(text.contains("route=\"/readyz\""), "{text}");
    assert!(text.contains("loquent_runtime_alive_tasks "), "{text}");
}

#[tokio::test]
async fn static_assets_and_security_headers() {
    let app = TestApp::new().await;
    for (path, kind) in [
        ("/static/app.css", "text/css"),
        ("/static/app.js", "text/javascript"),
    ] {
        let res = reqwest::get(app.url(path)).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(kind)
        );
        assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    }
    let page = reqwest::get(app.url("/login")).await.unwrap();
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert_eq!(page.headers()["cache-control"], "no-store");
}
