//! metal-api clients, one per endpoint and credential, shared by every reconcile (a connection
//! pool each). Credentials come from the shoot's cloudprovider Secret: `metalAPIHMac` (signed
//! as Metal-Admin, as metal-go does) or `metalAPIKey` (a bearer token).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use metal_api_sdk::auth::HmacKind;
use metal_api_sdk::{Auth, Client, ClientConfig};
use parking_lot::Mutex;
use sha2::{Digest as _, Sha256};

use crate::core::extensions::operation::ExtError;

pub struct MetalClients {
    timeout: Duration,
    ca_file: Option<PathBuf>,
    /// Keyed by endpoint and a digest of the credential (never the credential itself).
    clients: Mutex<HashMap<(String, String), Client>>,
}

impl MetalClients {
    pub fn new(timeout: Duration, ca_file: Option<PathBuf>) -> Self {
        MetalClients {
            timeout: if timeout.is_zero() {
                Duration::from_secs(30)
            } else {
                timeout
            },
            ca_file,
            clients: Mutex::default(),
        }
    }

    /// The client for `endpoint` with the credential in `secret`.
    pub fn client(
        &self,
        endpoint: &str,
        secret: &BTreeMap<String, String>,
    ) -> Result<Client, ExtError> {
        let pick = |key: &str| secret.get(key).map(|v| v.trim()).filter(|v| !v.is_empty());
        let auth = match (pick("metalAPIHMac"), pick("metalAPIKey")) {
            (Some(hmac), None) => Auth::Hmac {
                kind: HmacKind::Admin,
                key: hmac.to_owned(),
            },
            (None, Some(token)) => Auth::Bearer(token.to_owned()),
            (Some(_), Some(_)) => {
                return Err(ExtError::configuration(
                    "the cloudprovider secret has both metalAPIHMac and metalAPIKey: set one",
                ));
            }
            (None, None) => {
                return Err(ExtError::configuration(
                    "the cloudprovider secret has neither metalAPIHMac nor metalAPIKey",
                ));
            }
        };
        let digest = hex::encode(Sha256::digest(match &auth {
            Auth::Hmac { key, .. } => format!("hmac:{key}"),
            Auth::Bearer(token) => format!("token:{token}"),
            Auth::None => String::new(),
        }));
        let key = (endpoint.to_owned(), digest);
        let mut clients = self.clients.lock();
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        let mut config = ClientConfig::new(endpoint, auth);
        config.timeout = self.timeout;
        config.ca_file = self.ca_file.clone();
        config.user_agent = concat!("gardener-webhooks/", env!("CARGO_PKG_VERSION")).into();
        let client = Client::new(config).map_err(|e| {
            ExtError::configuration(format!("metal-api endpoint {endpoint:?}: {e}"))
        })?;
        clients.insert(key, client.clone());
        Ok(client)
    }
}
