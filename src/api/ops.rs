//! `/healthz` and `/readyz`: outside the versioned API, because probes must not move with it.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{Enum, Object, OpenApi, payload::Json};

use crate::{api::ApiTags, app::AppState, config::Backend, error::ApiResult};

pub struct OpsApi;

#[derive(Debug, Object)]
pub struct Health {
    /// Always `ok` when the process answers.
    pub status: String,
    /// The running version of Lumbar.
    pub version: String,
    /// The server's current time, to spot clock skew between instances.
    pub time: DateTime<Utc>,
}

#[derive(Debug, Object)]
pub struct Readiness {
    /// `ready` when every dependency answers.
    pub status: String,
    /// The database engine in use.
    pub database: DatabaseKind,
}

#[derive(Debug, Enum)]
#[oai(rename_all = "lowercase")]
pub enum DatabaseKind {
    Postgres,
    Sqlite,
}

#[OpenApi(tag = "ApiTags::Ops")]
impl OpsApi {
    /// Liveness: the process is up and serving HTTP. Touches no dependency.
    #[oai(path = "/healthz", method = "get", operation_id = "healthz")]
    async fn healthz(&self, state: Data<&AppState>) -> ApiResult<Json<Health>> {
        Ok(Json(Health {
            status: "ok".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            time: state.clock.now(),
        }))
    }

    /// Readiness: the database answers. Load balancers should stop sending traffic on 503.
    #[oai(path = "/readyz", method = "get", operation_id = "readyz")]
    async fn readyz(&self, state: Data<&AppState>) -> ApiResult<Json<Readiness>> {
        crate::service::ops::ready(&state).await?;
        Ok(Json(Readiness {
            status: "ready".into(),
            database: match state.backend {
                Backend::Postgres => DatabaseKind::Postgres,
                Backend::Sqlite => DatabaseKind::Sqlite,
            },
        }))
    }
}
