//! Channel ownership (`docs/architecture.md`, "Meta"): a channel id is connected, or its
//! token replaced, only after Meta, asked with that token, shows the account.

use serde_json::{json, Value};

use crate::domain::account::AccessToken;
use crate::domain::conversation::Channel;
use crate::error::ApiError;
use crate::meta::GraphError;
use crate::App;

/// What Meta shows `token` of the account `external_id` on `channel`: the WhatsApp
/// number's display number and verified name, or the page's or Instagram account's name.
/// A token that cannot read the account is a 422 on `access_token`.
pub async fn verify(
    app: &App,
    channel: Channel,
    external_id: &str,
    token: &AccessToken,
) -> Result<Value, ApiError> {
    let fields = match channel {
        Channel::Whatsapp => "id,display_phone_number,verified_name",
        Channel::Facebook => "id,name",
        Channel::Instagram => "id,username,name",
    };
    match app.graph()?.describe(external_id, fields, token).await {
        Ok(answer) if answer["id"].as_str() == Some(external_id) => {
            let mut shown = answer;
            if let Some(m) = shown.as_object_mut() {
                m.remove("id");
            }
            Ok(shown)
        }
        Ok(_) => Err(refused(channel, "Meta answered for another account")),
        Err(GraphError::Refused { status, error, .. }) if status < 500 && status != 429 => {
            let why = error["message"].as_str().unwrap_or("refused").to_string();
            Err(refused(channel, &why))
        }
        Err(GraphError::Timeout) => Err(ApiError::UpstreamTimeout(
            "Meta did not answer in time; nothing was connected".into(),
        )),
        Err(e) => Err(ApiError::Upstream {
            code: "WHATSAPP_API_ERROR",
            message: "Meta could not be asked about the account; nothing was connected".into(),
            details: match e {
                GraphError::Refused { error, .. } => Some(error),
                GraphError::Unreachable(m) => Some(json!({"message": m})),
                GraphError::Timeout => None,
            },
        }),
    }
}

fn refused(channel: Channel, why: &str) -> ApiError {
    ApiError::validation(
        "access_token",
        format!(
            "cannot act for this {} account on Meta ({why})",
            channel.label()
        ),
    )
}
