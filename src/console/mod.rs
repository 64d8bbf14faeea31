//! The console: the web app built from `web/` (see `build.rs`), embedded in the binary and
//! served at `/` and its client routes, the customer's chat page at `/a/{slug}`, the
//! `widget.js` launcher, and the first-run set-up (`/api/v1/setup`).

pub mod assets;
pub mod http;
pub mod setup;

pub use setup::SetupGate;

use actix_web::{guard, web};

/// Routes outside `/api/v1`. Register before the JSON routes they share paths with
/// (`/a/{slug}` answers HTML only to browsers).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/a/{slug}")
            .guard(guard::fn_guard(http::wants_html))
            .route(web::get().to(http::chat_page)),
    )
    // The widget's frame for a web chat integration without a published agent page.
    .route("/chat/{integration_id}", web::get().to(http::chat_page))
    .route("/", web::get().to(http::console_page))
    .route("/widget.js", web::get().to(http::widget))
    .route("/assets/{file:.*}", web::get().to(http::asset));
}

/// Under `/api/v1`.
pub fn api_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/setup", web::get().to(setup::status))
        .route("/setup", web::post().to(setup::complete));
}
