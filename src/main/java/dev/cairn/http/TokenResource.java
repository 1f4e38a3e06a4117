package dev.cairn.http;

import dev.cairn.auth.Gatekeeper;
import dev.cairn.auth.Grant;
import dev.cairn.registry.ErrorCode;
import dev.cairn.registry.RegistryException;
import org.eclipse.jetty.server.Request;

import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code GET /token?service=...&scope=repository:NAME:ACTIONS}: the Docker token protocol's endpoint.
 * Basic credentials (or none, for anonymous rules) in, a short-lived signed token with the granted
 * subset of the requested scopes out.
 */
final class TokenResource {
    private final AccessGate gate;

    TokenResource(AccessGate gate) {
        this.gate = gate;
    }

    void handle(Exchange x, Gatekeeper.Caller caller) {
        if (gate.gatekeeper().mode() != Gatekeeper.Mode.TOKEN) {
            throw new RegistryException(ErrorCode.NAME_UNKNOWN, "token authentication is not enabled");
        }
        if (!x.method().equals("GET") && !x.method().equals("POST")) {
            throw new RegistryException(ErrorCode.UNSUPPORTED, x.method() + " is not supported on the token endpoint");
        }
        if (caller.tokenGrants().isPresent()) {
            throw new AccessRefusedException(ErrorCode.UNAUTHORIZED, "log in with a user name and password to get a token",
                    java.util.Optional.empty(), false, 0);
        }
        List<Grant> requested = new ArrayList<>();
        for (String scope : Request.extractQueryParameters(x.request).getValues("scope")) {
            for (String one : scope.split(" ")) {
                if (one.isBlank()) continue;
                try {
                    requested.add(Grant.parseScope(one));
                } catch (IllegalArgumentException e) {
                    throw new RegistryException(ErrorCode.INVALID_REQUEST, e.getMessage());
                }
            }
        }
        String token = gate.gatekeeper().issueToken(caller, requested);
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("token", token);
        body.put("access_token", token);
        body.put("expires_in", gate.gatekeeper().tokens().orElseThrow().ttl().toSeconds());
        body.put("issued_at", Instant.now().toString());
        x.header("Cache-Control", "no-store");
        x.sendJson(200, "application/json", body);
    }
}
