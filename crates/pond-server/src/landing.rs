//! Customer-facing H5 landing page of a landing-mode channel code: picks the employee by the
//! code's strategy, counts the scan, and shows that employee's own contact QR (a single-person
//! WeCom contact way carrying the code's `state`, created once per employee and reused).

use askama::Template;
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};

use crate::{acquisition as journey, console::render, state::AppState};

#[derive(Template)]
#[template(path = "landing.html")]
struct LandingPage {
    title: String,
    staff_name: Option<String>,
    qr_code: String,
    message: String,
}

fn page(status: StatusCode, title: &str, message: &str) -> Response {
    let mut resp = render(&LandingPage {
        title: title.to_owned(),
        staff_name: None,
        qr_code: String::new(),
        message: message.to_owned(),
    });
    *resp.status_mut() = status;
    resp
}

/// GET /c/{corp_id}/{code_id}
pub async fn landing(State(state): State<AppState>, Path((corp_id, code_id)): Path<(i64, i64)>) -> Response {
    let code = match pond_store::channel_code::get(&state.db, corp_id, code_id).await {
        Ok(c) if c.mode == "landing" => c,
        _ => return page(StatusCode::NOT_FOUND, "二维码已失效", "这个二维码已失效，请联系门店工作人员。"),
    };
    let now = pond_store::now_ms();
    let userid = match journey::route_scan(&state.db, &code, now).await {
        Ok(Some(u)) => u,
        Ok(None) => return page(StatusCode::SERVICE_UNAVAILABLE, &code.name, "现在暂时无人接待，请稍后再扫。"),
        Err(e) => {
            tracing::error!(code_id, error = %e, "landing page could not route");
            return page(StatusCode::SERVICE_UNAVAILABLE, &code.name, "系统繁忙，请稍后再试。");
        }
    };
    let qr = match pond_store::channel_code::staff_way(&state.db, corp_id, code.id, &userid).await {
        Ok(Some((_, qr))) => qr,
        Ok(None) => match create_staff_way(&state, &code, &userid).await {
            Ok(qr) => qr,
            Err(e) => {
                tracing::warn!(code_id, userid, error = %e, "could not create the employee's contact way");
                return page(StatusCode::SERVICE_UNAVAILABLE, &code.name, "系统繁忙，请稍后再试。");
            }
        },
        Err(e) => {
            tracing::error!(code_id, error = %e, "landing page could not read its contact ways");
            return page(StatusCode::SERVICE_UNAVAILABLE, &code.name, "系统繁忙，请稍后再试。");
        }
    };
    if let Err(e) = pond_store::channel_code::record_scan(&state.db, corp_id, code.id, &userid).await {
        tracing::warn!(code_id, error = %e, "scan not counted");
    }
    let staff_name = pond_store::staff::get(&state.db, corp_id, &userid).await.map(|s| s.name).unwrap_or(userid);
    render(&LandingPage {
        title: code.name.clone(),
        staff_name: Some(staff_name),
        qr_code: qr,
        message: "长按识别二维码，添加专属顾问".into(),
    })
    .into_response()
}

async fn create_staff_way(
    state: &AppState,
    code: &pond_store::channel_code::ChannelCode,
    userid: &str,
) -> Result<String, String> {
    let corp = pond_store::corp::get(&state.db, code.corp_id).await.map_err(|e| e.to_string())?;
    let client = state.wecom.for_corp(&corp).map_err(|e| e.to_string())?;
    let created =
        client.add_contact_way(&journey::native_way(code, vec![userid.to_owned()])).await.map_err(|e| e.to_string())?;
    pond_store::channel_code::set_staff_way(
        &state.db,
        code.corp_id,
        code.id,
        userid,
        &created.config_id,
        &created.qr_code,
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(created.qr_code)
}
