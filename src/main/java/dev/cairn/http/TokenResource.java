package dev.cairn.http;

import dev.cairn.values.Refusal;
import dev.cairn.auth.Gatekeeper;
import dev.cairn.auth.Grant;
import org.eclipse.jetty.server.Request;

import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
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
final class TokenResource implements Front {
    private final AccessGate gate;

    TokenResource(AccessGate gate) {
        this.gate = gate;
    }

    @Override
    public java.util.Optional<Routed> route(String rawPath) {
        if (!rawPath.equals("/token")) return java.util.Optional.empty();
        return java.util.Optional.of(new Routed() {
            @Override
            public void authorize(Exchange x, AccessGate gate) {
                // anyone may ask; what the token grants is decided from the credentials sent
            }

            @Override
            public void serve(Exchange x) {
                handle(x, x.caller);
            }
        });
    }

    private void handle(Exchange x, Gatekeeper.Caller caller) {
        if (gate.gatekeeper().mode() != Gatekeeper.Mode.TOKEN) {
            throw new Refusal(Refusal.Reason.UNKNOWN_ENDPOINT, "token authentication is not enabled");
        }
        switch (x.method()) {
            case "GET" -> {
                if (caller.tokenGrants().isPresent()) {
                    throw new AccessRefusedException(Refusal.Reason.NOT_AUTHENTICATED, "log in with a user name and password to get a token",
                            java.util.Optional.empty(), false, 0);
                }
                List<String> scopes = Request.extractQueryParameters(x.request).getValues("scope");
                send(x, caller, scopes == null ? List.of() : scopes, false);
            }
            case "POST" -> postForm(x);
            default -> throw new Refusal(Refusal.Reason.UNSUPPORTED_METHOD, x.method() + " is not supported on the token endpoint");
        }
    }

    /**
     * The OAuth2 form containerd and BuildKit post ({@code grant_type=password}, username, password, scope).
     * Refresh tokens are not issued, so a {@code refresh_token} grant is a 404 and the client falls back to
     * the GET with Basic credentials.
     */
    private void postForm(Exchange x) {
        Map<String, List<String>> form;
        try {
            form = parseForm(new String(x.body().readNBytes(64 * 1024), StandardCharsets.UTF_8));
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        String grantType = first(form, "grant_type");
        if (!"password".equals(grantType)) {
            throw new Refusal(Refusal.Reason.UNKNOWN_ENDPOINT, "grant_type " + grantType + " is not supported; use GET with Basic credentials");
        }
        Gatekeeper.Caller caller;
        try {
            caller = gate.gatekeeper().authenticate(new Gatekeeper.Credentials.Password(
                    String.valueOf(first(form, "username")), String.valueOf(first(form, "password")).toCharArray()), gate.source(x.request));
        } catch (Gatekeeper.AuthenticationFailed e) {
            throw new AccessRefusedException(e.retryAfter().isPresent() ? Refusal.Reason.LOGIN_COOLING_OFF : Refusal.Reason.NOT_AUTHENTICATED, e.getMessage(),
                    java.util.Optional.empty(), false, e.retryAfter().map(t -> Math.max(1, t.getEpochSecond() - Instant.now().getEpochSecond())).orElse(0L));
        }
        send(x, caller, form.getOrDefault("scope", List.of()), true);
    }

    private void send(Exchange x, Gatekeeper.Caller caller, List<String> scopes, boolean oauth) {
        List<Grant> requested = new ArrayList<>();
        for (String scope : scopes) {
            for (String one : scope.split(" ")) {
                if (one.isBlank()) continue;
                try {
                    requested.add(Grant.parseScope(one));
                } catch (IllegalArgumentException e) {
                    throw new Refusal(Refusal.Reason.INVALID_REQUEST, e.getMessage());
                }
            }
        }
        String token = gate.gatekeeper().issueToken(caller, requested);
        Map<String, Object> body = new LinkedHashMap<>();
        if (!oauth) body.put("token", token);
        body.put("access_token", token);
        body.put("expires_in", gate.gatekeeper().tokens().orElseThrow().ttl().toSeconds());
        body.put("issued_at", Instant.now().toString());
        x.header("Cache-Control", "no-store");
        x.sendJson(200, "application/json", body);
    }

    private static Map<String, List<String>> parseForm(String text) {
        Map<String, List<String>> form = new LinkedHashMap<>();
        for (String pair : text.split("&")) {
            if (pair.isEmpty()) continue;
            int eq = pair.indexOf('=');
            String name = URLDecoder.decode(eq < 0 ? pair : pair.substring(0, eq), StandardCharsets.UTF_8);
            String value = eq < 0 ? "" : URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8);
            form.computeIfAbsent(name, k -> new ArrayList<>()).add(value);
        }
        return form;
    }

    private static String first(Map<String, List<String>> form, String name) {
        List<String> values = form.get(name);
        return values == null || values.isEmpty() ? null : values.getFirst();
    }
}
