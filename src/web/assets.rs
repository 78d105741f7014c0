//! The stylesheet and scripts, embedded in the binary and served from this origin only.

use poem::{
    Response, handler,
    http::{StatusCode, header},
    web::Path,
};

/// (name, content type, content).
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "lumbar.css",
        "text/css; charset=utf-8",
        include_str!("assets/lumbar.css"),
    ),
    (
        "lumbar.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/lumbar.js"),
    ),
];

#[handler]
pub async fn asset(Path(name): Path<String>) -> poem::Result<Response> {
    let (_, content_type, content) = ASSETS
        .iter()
        .find(|(asset, _, _)| *asset == name)
        .ok_or_else(|| poem::Error::from_status(StatusCode::NOT_FOUND))?;
    Ok(Response::builder()
        .content_type(*content_type)
        // Small and changed only with the binary: an hour is plenty and needs no fingerprint.
        .header(header::CACHE_CONTROL, "public, max-age=3600")
        .body(*content))
}
