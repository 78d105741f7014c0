//! Probe operations mounted into the real server by the error-format tests, so the shared edge
//! (body parsing, parameter parsing, panics, internal errors) is exercised before the first
//! product endpoint that takes a body exists. They only ever exist inside this test binary.

use lumbar::error::{ApiError, ApiResult};
use poem_openapi::{
    Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};

pub struct ProbeApi;

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct ProbeBody {
    pub name: lumbar::api::types::Text,
    pub count: u32,
}

#[derive(Debug, Object)]
pub struct ProbeItem {
    pub id: uuid::Uuid,
    pub limit: u32,
}

#[OpenApi(prefix_path = "/api/v1/test-probe")]
impl ProbeApi {
    /// Echoes a strictly typed body.
    #[oai(path = "/echo", method = "post")]
    async fn echo(&self, body: Json<ProbeBody>) -> ApiResult<Json<ProbeBody>> {
        Ok(body)
    }

    /// Typed path and query parameters.
    #[oai(path = "/items/:id", method = "get")]
    async fn item(
        &self,
        id: Path<uuid::Uuid>,
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<ProbeItem>> {
        Ok(Json(ProbeItem {
            id: id.0,
            limit: limit.0.unwrap_or(10),
        }))
    }

    /// A handler with a bug.
    #[oai(path = "/panic", method = "get")]
    async fn panic(&self) -> ApiResult<Json<ProbeItem>> {
        let answers: Vec<u32> = Vec::new();
        // Index out of bounds: the kind of bug the edge must survive.
        let limit = answers[usize::from(answers.is_empty())];
        Ok(Json(ProbeItem {
            id: uuid::Uuid::nil(),
            limit,
        }))
    }

    /// An unexpected failure whose cause must stay in the logs.
    #[oai(path = "/internal", method = "get")]
    async fn internal(&self) -> ApiResult<Json<ProbeItem>> {
        Err(ApiError::internal(anyhow::anyhow!(
            "connection to db.internal refused: password authentication failed"
        )))
    }
}
