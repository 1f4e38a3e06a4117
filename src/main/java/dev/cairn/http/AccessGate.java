package dev.cairn.http;

import dev.cairn.values.Refusal;
import dev.cairn.auth.Action;
import dev.cairn.auth.Gatekeeper;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.server.Request;

import java.nio.charset.StandardCharsets;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.Optional;

/**
 * The HTTP side of access control: reads credentials from the request (Basic, Bearer, a verified client
 * certificate), asks the {@link Gatekeeper}, and refuses with the status and challenge clients expect.
 */
final class AccessGate {
    private final Gatekeeper gatekeeper;
    private final ClientAddress clientAddress;
    private final Optional<String> configuredRealm;

    AccessGate(Gatekeeper gatekeeper, Optional<String> configuredRealm, ClientAddress clientAddress) {
        this.clientAddress = clientAddress;
        this.gatekeeper = gatekeeper;
        this.configuredRealm = configuredRealm;
    }

    Gatekeeper gatekeeper() {
        return gatekeeper;
    }

    /** Who is calling; wrong credentials are a 401 (and count towards the cooling-off), a cooling-off source a 429. */
    Gatekeeper.Caller authenticate(Exchange x) {
        if (gatekeeper.mode() == Gatekeeper.Mode.NONE) return Gatekeeper.Caller.ANONYMOUS;
        try {
            return gatekeeper.authenticate(credentials(x.request), source(x.request));
        } catch (Gatekeeper.AuthenticationFailed e) {
            if (e.retryAfter().isPresent()) {
                long seconds = Math.max(1, Duration.between(Instant.now(), e.retryAfter().get()).toSeconds());
                throw new AccessRefusedException(Refusal.Reason.LOGIN_COOLING_OFF, e.getMessage(), Optional.empty(), false, seconds);
            }
            throw new AccessRefusedException(Refusal.Reason.NOT_AUTHENTICATED, e.getMessage(), Optional.empty(), false, 0);
        }
    }

    /** Refuses unless the caller may do {@code action} on {@code repository}. */
    void require(Gatekeeper.Caller caller, String repository, Action action) {
        refuseUnless(gatekeeper.check(caller, repository, action), Optional.of("repository:" + repository + ":" + action.wireName()),
                caller.tokenGrants().isPresent());
    }

    /** The /v2/ base and the catalog: any known caller (a client's login check), or anyone when auth is off. */
    void requireKnown(Gatekeeper.Caller caller) {
        refuseUnless(gatekeeper.isKnown(caller) ? Gatekeeper.Decision.ALLOWED : Gatekeeper.Decision.CHALLENGE, Optional.empty(), false);
    }

    /** The admin API and /metrics; a token client is told the scope to ask for. */
    void requireAdmin(Gatekeeper.Caller caller) {
        refuseUnless(gatekeeper.checkAdmin(caller), Optional.of("registry:admin:*"), caller.tokenGrants().isPresent());
    }

    /** For the catalog: what the caller's user may pull by the rules (a token's scope does not narrow a listing). */
    boolean listable(Gatekeeper.Caller caller, String repository) {
        return gatekeeper.rulesAllowPull(caller, repository);
    }

    boolean mayPull(Gatekeeper.Caller caller, String repository) {
        return gatekeeper.check(caller, repository, Action.PULL) == Gatekeeper.Decision.ALLOWED;
    }

    private static void refuseUnless(Gatekeeper.Decision decision, Optional<String> scope, boolean hadToken) {
        switch (decision) {
            case ALLOWED -> {
            }
            case CHALLENGE -> throw new AccessRefusedException(Refusal.Reason.NOT_AUTHENTICATED,
                    hadToken ? "the token does not grant " + scope.orElse("this") : "authentication required", scope, hadToken, 0);
            case DENIED -> throw new AccessRefusedException(Refusal.Reason.ACCESS_DENIED,
                    "requested access to the resource is denied" + scope.map(s -> " (" + s + ")").orElse(""), scope, false, 0);
        }
    }

    /** The WWW-Authenticate value for a 401 to this request. */
    String challenge(Exchange x, AccessRefusedException e) {
        if (gatekeeper.mode() == Gatekeeper.Mode.TOKEN) {
            StringBuilder value = new StringBuilder("Bearer realm=\"").append(realm(x)).append("\",service=\"")
                    .append(gatekeeper.tokens().orElseThrow().service()).append('"');
            e.scope().ifPresent(s -> value.append(",scope=\"").append(s).append('"'));
            if (e.insufficientScope()) value.append(",error=\"insufficient_scope\"");
            return value.toString();
        }
        return "Basic realm=\"cairn\"";
    }

    private String realm(Exchange x) {
        if (configuredRealm.isPresent()) return configuredRealm.get();
        String scheme = x.request.getHttpURI().getScheme();
        String host = Optional.ofNullable(x.request.getHeaders().get("Host")).orElse(Request.getServerName(x.request));
        return (scheme == null ? "http" : scheme) + "://" + host + "/token";
    }

    static Gatekeeper.Credentials credentials(Request request) {
        String authorization = request.getHeaders().get("Authorization");
        if (authorization != null) {
            int space = authorization.indexOf(' ');
            String scheme = space < 0 ? authorization : authorization.substring(0, space);
            String value = space < 0 ? "" : authorization.substring(space + 1).strip();
            if (scheme.equalsIgnoreCase("Basic")) {
                String decoded;
                try {
                    decoded = new String(Base64.getDecoder().decode(value), StandardCharsets.UTF_8);
                } catch (IllegalArgumentException e) {
                    return new Gatekeeper.Credentials.Password("", new char[0]);
                }
                // containers/image clients with no credentials send "Basic Og==" (":"): that is no login at all,
                // so a client certificate, if any, still counts.
                if (decoded.equals(":")) return certificateOrNone(request);
                int colon = decoded.indexOf(':');
                return colon < 0 ? new Gatekeeper.Credentials.Password(decoded, new char[0])
                        : new Gatekeeper.Credentials.Password(decoded.substring(0, colon), decoded.substring(colon + 1).toCharArray());
            }
            if (scheme.equalsIgnoreCase("Bearer")) return new Gatekeeper.Credentials.Bearer(value);
        }
        return certificateOrNone(request);
    }

    private static Gatekeeper.Credentials certificateOrNone(Request request) {
        if (request.getAttribute(EndPoint.SslSessionData.ATTRIBUTE) instanceof EndPoint.SslSessionData tls) {
            X509Certificate[] chain = tls.peerCertificates();
            if (chain != null && chain.length > 0) {
                Optional<String> cn = commonName(chain[0]);
                if (cn.isPresent()) return new Gatekeeper.Credentials.Certificate(cn.get());
            }
        }
        return new Gatekeeper.Credentials.None();
    }

    private static Optional<String> commonName(X509Certificate certificate) {
        try {
            for (var rdn : new javax.naming.ldap.LdapName(certificate.getSubjectX500Principal().getName()).getRdns()) {
                if (rdn.getType().equalsIgnoreCase("CN")) return Optional.of(rdn.getValue().toString());
            }
        } catch (javax.naming.InvalidNameException e) {
            return Optional.empty();
        }
        return Optional.empty();
    }

    /** The client's address, as the login throttle counts it. */
    String source(Request request) {
        return clientAddress.of(request);
    }
}
