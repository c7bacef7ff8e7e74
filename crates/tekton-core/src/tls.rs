//! TLS for `https://` and `wss://` Rhetor URLs: rustls with the ring provider, the platform's
//! roots (on Linux the system store, honouring SSL_CERT_FILE / SSL_CERT_DIR), plus an optional
//! CA bundle (PEM) for private CAs.

use std::path::Path;
use std::sync::Arc;

use rustls::ClientConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use rustls_platform_verifier::Verifier;

use crate::error::{CoreError, CoreResult, ErrorKind};

/// The certificates of a PEM bundle; an unreadable file or one with no certificate is an error
/// (a typo in the path must not silently fall back to the system roots).
pub fn read_ca_bundle(path: &Path) -> CoreResult<Vec<CertificateDer<'static>>> {
    let bad = |e: &dyn std::fmt::Display| {
        CoreError::new(ErrorKind::InvalidRequest, format!("cannot read ca_bundle {}: {e}", path.display()))
    };
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(path).map_err(|e| bad(&e))?.collect::<Result<_, _>>().map_err(|e| bad(&e))?;
    if certs.is_empty() {
        return Err(bad(&"no PEM certificate in it"));
    }
    Ok(certs)
}

/// A rustls client configuration: platform roots plus those of `ca_bundle`.
pub fn client_config(ca_bundle: Option<&Path>) -> CoreResult<Arc<ClientConfig>> {
    let extra = match ca_bundle {
        Some(path) => read_ca_bundle(path)?,
        None => Vec::new(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls_error = |e: rustls::Error| CoreError::new(ErrorKind::Other, format!("cannot set up TLS: {e}"));
    let verifier = Verifier::new_with_extra_roots(extra, Arc::clone(&provider)).map_err(tls_error)?;
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_empty_bundle_is_an_error() {
        let e = read_ca_bundle(Path::new("/nonexistent/ca.pem")).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidRequest);
        let dir = std::env::temp_dir().join(format!("tekton-empty-{}.pem", std::process::id()));
        std::fs::write(&dir, "not a certificate\n").unwrap();
        let e = read_ca_bundle(&dir).unwrap_err();
        assert!(e.message.contains("no PEM certificate"), "{}", e.message);
        let _ = std::fs::remove_file(dir);
    }
}
