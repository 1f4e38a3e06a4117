package dev.cairn.config;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;

/**
 * {@code tls.cert} and {@code tls.key} (PEM) turn the listener into HTTPS with HTTP/2 and HTTP/1.1; the
 * files are watched and a new certificate is picked up without a restart. {@code tls.client-ca} (PEM)
 * lets runners authenticate with client certificates signed by that CA (the user is the subject's CN);
 * {@code tls.client-crl} (PEM or DER) lists revoked ones. Every file is watched and reloaded on change.
 */
public record TlsSettings(Optional<Path> cert, Optional<Path> key, Optional<Path> clientCa, Optional<Path> clientCrl, Duration reloadCheck) {
    public boolean enabled() {
        return cert.isPresent();
    }
}
