#![allow(clippy::result_large_err, reason = "figment::Jail's closures return figment::Error")]

use super::*;

#[test]
fn flags_beat_env_beat_file_beat_defaults() {
    figment::Jail::expect_with(|jail| {
        jail.create_file(
            "gatekey.toml",
            "grpc_addr = \"127.0.0.1:1\"\nhttp_addr = \"127.0.0.1:2\"\nlog_level = \"debug\"",
        )?;
        jail.set_env("GATEKEY_GRPC_ADDR", "127.0.0.1:3");
        jail.set_env("GATEKEY_HTTP_ADDR", "127.0.0.1:4");
        let flags = FlagOverrides {
            grpc_addr: Some("127.0.0.1:5".parse().expect("addr")),
            ..Default::default()
        };
        let c = Config::load(Some(Path::new("gatekey.toml")), &flags).map_err(|e| e.to_string())?;
        assert_eq!(c.grpc_addr.port(), 5);
        assert_eq!(c.http_addr.port(), 4);
        assert_eq!(c.log_level, "debug");
        assert_eq!(c.access_token_ttl_secs, 3600);
        Ok(())
    });
}

#[test]
fn unknown_fields_in_the_file_are_rejected() {
    figment::Jail::expect_with(|jail| {
        jail.create_file("gatekey.toml", "grcp_addr = \"127.0.0.1:1\"")?;
        let err = Config::load(Some(Path::new("gatekey.toml")), &FlagOverrides::default());
        assert!(err.is_err());
        Ok(())
    });
}

#[test]
fn postgres_requires_configured_secrets() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("DATABASE_URL", "postgres://localhost/x");
        let c = Config::load(None, &FlagOverrides::default()).map_err(|e| e.to_string())?;
        assert!(c.secrets().is_err());
        Ok(())
    });
}

#[test]
fn a_malformed_secret_is_not_echoed_in_the_error() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("GATEKEY_KEY_PEPPER", "9876543210987");
        let err = Config::load(None, &FlagOverrides::default())
            .map(|_| ())
            .expect_err("a number is no secret");
        let text = format!("{err:#}");
        assert!(!text.contains("9876543210987"), "{text}");
        assert!(text.contains("key_pepper"), "{text}");
        Ok(())
    });
}

#[test]
fn the_example_config_and_its_gateway_sections_are_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/gatekey.example.toml");
    let c = Config::load(Some(&path), &FlagOverrides::default()).expect("valid example");
    let (settings, _) = c.gateway_settings().expect("valid gateway settings");
    assert!(settings.routes.find("GET", "/v1/cameras/7").is_some());
}

#[test]
fn gateway_settings_come_from_the_environment_too() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("GATEKEY_TRUSTED_PROXIES", "[\"10.0.0.0/8\", \"192.0.2.1\"]");
        jail.set_env("GATEKEY_HIDE_CREDENTIALS", "true");
        jail.set_env("GATEKEY_GATEWAY_ADDR", "127.0.0.1:7000");
        let c = Config::load(None, &FlagOverrides::default()).map_err(|e| e.to_string())?;
        let (settings, _) = c.gateway_settings().map_err(|e| e.to_string())?;
        assert!(settings.trusted_proxies.trusts("10.9.9.9".parse().expect("ip")));
        assert!(!settings.trusted_proxies.trusts("127.0.0.1".parse().expect("ip")));
        assert!(settings.hide_credentials);
        assert_eq!(c.gateway_addr.map(|a| a.port()), Some(7000));
        Ok(())
    });
}

#[test]
fn flood_guards_are_on_by_default_and_can_be_tuned_or_turned_off() {
    figment::Jail::expect_with(|jail| {
        let c = Config::load(None, &FlagOverrides::default()).map_err(|e| e.to_string())?;
        assert_eq!(c.flood_settings().map_err(|e| e.to_string())?, FloodSettings::default());
        jail.set_env("GATEKEY_VERIFY_IP_FAILURE_BURST", "5");
        jail.set_env("GATEKEY_VERIFY_UNKNOWN_KEY_LOOKUPS_PER_SEC", "0");
        let c = Config::load(None, &FlagOverrides::default()).map_err(|e| e.to_string())?;
        let tuned = c.flood_settings().map_err(|e| e.to_string())?;
        assert_eq!(tuned.client_failures.map(|p| p.burst), Some(5));
        assert_eq!(tuned.key_lookups, None);
        jail.set_env("GATEKEY_VERIFY_IP_FAILURE_LIMIT", "false");
        let c = Config::load(None, &FlagOverrides::default()).map_err(|e| e.to_string())?;
        assert_eq!(c.flood_settings().map_err(|e| e.to_string())?.client_failures, None);
        jail.set_env("GATEKEY_VERIFY_IP_FAILURE_LIMIT", "true");
        jail.set_env("GATEKEY_VERIFY_IP_FAILURE_BURST", "0");
        assert!(Config::load(None, &FlagOverrides::default()).is_err(), "a zero burst");
        Ok(())
    });
}

#[test]
fn short_secrets_are_rejected() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("GATEKEY_KEY_PEPPER", "short");
        assert!(Config::load(None, &FlagOverrides::default()).is_err());
        Ok(())
    });
}

#[test]
fn tls_settings_come_from_flags_and_the_environment() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("GATEKEY_TLS_KEY", "/etc/gk/tls.key");
        jail.set_env("GATEKEY_TLS_CLIENT_CA", "/etc/gk/ca.crt");
        jail.set_env("GATEKEY_TLS_CLIENT_AUTH_GATEWAY", "optional");
        let flags = FlagOverrides {
            tls_cert: Some("/etc/gk/tls.crt".into()),
            ..Default::default()
        };
        let c = Config::load(None, &flags).map_err(|e| e.to_string())?;
        let files = c.tls.files().map_err(|e| e.to_string())?.ok_or("TLS should be on")?;
        assert_eq!(files.cert, Path::new("/etc/gk/tls.crt"));
        assert_eq!(files.key, Path::new("/etc/gk/tls.key"));
        assert_eq!(files.gateway, tls::ClientAuth::Optional);
        assert_eq!(files.grpc, tls::ClientAuth::Optional);
        jail.set_env("GATEKEY_TLS_CLIENT_AUTH_HTTP", "sometimes");
        assert!(Config::load(None, &flags).is_err(), "an unknown mode is refused");
        Ok(())
    });
}

#[test]
fn tls_settings_come_from_the_environment_alone() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("GATEKEY_TLS_CERT", "/etc/gk/tls.crt");
        jail.set_env("GATEKEY_TLS_KEY", "/etc/gk/tls.key");
        jail.set_env("GATEKEY_TLS_CLIENT_CA", "/etc/gk/ca.crt");
        // No flag given: an unset flag must not hide what the environment says.
        let c = Config::load(None, &FlagOverrides::default()).map_err(|e| e.to_string())?;
        let files = c.tls.files().map_err(|e| e.to_string())?.ok_or("TLS should be on")?;
        assert_eq!(files.cert, Path::new("/etc/gk/tls.crt"));
        assert_eq!(files.key, Path::new("/etc/gk/tls.key"));
        assert_eq!(files.gateway, tls::ClientAuth::Required);
        assert_eq!(files.http, tls::ClientAuth::Optional);
        Ok(())
    });
}

#[test]
fn every_flag_override_left_unset_is_left_out() {
    // Flags are the top layer: a `None` serialised as a value would override env and file.
    let serialised = serde_json::to_value(FlagOverrides::default()).expect("serialises");
    assert_eq!(serialised, serde_json::json!({}));
}
