package dev.cairn.auth;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Decides, for every request, who is calling and whether they may: checks passwords (htpasswd) and
 * bearer tokens, applies the permission rules, and issues tokens at the token endpoint. The answers
 * are domain values; the HTTP edge turns them into 401 challenges, 403 and 429.
 */
public final class Gatekeeper {
    public enum Mode { NONE, BASIC, TOKEN }

    /** What the request presented. */
    public sealed interface Credentials {
        record None() implements Credentials {
        }

        record Password(String user, char[] password) implements Credentials {
        }

        record Bearer(String token) implements Credentials {
        }

        /** A client certificate the TLS layer verified; the user is its subject's common name. */
        record Certificate(String user) implements Credentials {
        }
    }

    /** An authenticated (or anonymous) caller; a bearer token limits them to its grants. */
    public record Caller(Identity identity, Optional<List<Grant>> tokenGrants, boolean externalToken) {
        public static final Caller ANONYMOUS = new Caller(Identity.ANONYMOUS, Optional.empty(), false);
    }

    public enum Decision {
        ALLOWED,
        /** Credentials (or a token with a wider scope) could make it allowed: answer 401 with a challenge. */
        CHALLENGE,
        /** The caller is known and may not: answer 403. */
        DENIED
    }

    /** Credentials were presented and are wrong (or the source is cooling off). */
    public static final class AuthenticationFailed extends Exception {
        private final Optional<java.time.Instant> retryAfter;

        public AuthenticationFailed(String message, Optional<java.time.Instant> retryAfter) {
            super(message, null, false, false);
            this.retryAfter = retryAfter;
        }

        /** Present when the source is cooling off after too many failures (429). */
        public Optional<java.time.Instant> retryAfter() {
            return retryAfter;
        }
    }

    private final Mode mode;
    private final AccessPolicy policy;
    private final Optional<Htpasswd> users;
    private final Optional<TokenService> tokens;
    private final LoginThrottle throttle;

    public Gatekeeper(Mode mode, AccessPolicy policy, Optional<Htpasswd> users, Optional<TokenService> tokens, LoginThrottle throttle) {
        this.mode = mode;
        this.policy = mode == Mode.NONE ? AccessPolicy.everyoneMayDoEverything() : policy;
        this.users = users;
        this.tokens = tokens;
        this.throttle = throttle;
    }

    public Mode mode() {
        return mode;
    }

    public Optional<TokenService> tokens() {
        return tokens;
    }

    public Caller authenticate(Credentials credentials, String source) throws AuthenticationFailed {
        if (mode == Mode.NONE) return Caller.ANONYMOUS;
        // Clients that can only send a bearer token (turbo's --token) log in with "user:password" as the token where
        // Cairn issues no tokens of its own (auth.mode basic): checked and throttled as a password is.
        if (credentials instanceof Credentials.Bearer b && tokens.isEmpty() && b.token().indexOf(':') > 0) {
            int colon = b.token().indexOf(':');
            credentials = new Credentials.Password(b.token().substring(0, colon), b.token().substring(colon + 1).toCharArray());
        }
        return switch (credentials) {
            case Credentials.None none -> Caller.ANONYMOUS;
            case Credentials.Password p -> {
                Optional<java.time.Instant> blocked = throttle.userBlocked(p.user(), source);
                if (blocked.isPresent()) {
                    throw new AuthenticationFailed("too many failed logins for this user from this address; try again later", blocked);
                }
                if (users.isPresent() && users.get().verify(p.user(), p.password())) {
                    throttle.succeeded(p.user(), source);
                    yield new Caller(Identity.user(p.user(), policy.groupsOf(p.user())), Optional.empty(), false);
                }
                Optional<java.time.Instant> addressCooling = throttle.failed(p.user(), source);
                if (addressCooling.isPresent()) {
                    throw new AuthenticationFailed("too many failed logins from this address; try again later", addressCooling);
                }
                throw new AuthenticationFailed("wrong user name or password", Optional.empty());
            }
            case Credentials.Bearer b -> {
                Optional<TokenService.Verified> verified = tokens.flatMap(t -> t.verify(b.token()));
                if (verified.isEmpty()) {
                    // Not counted towards the cooling-off: tokens expire in normal use, and a runner's parallel
                    // requests with an expired token must not lock out its neighbours. Tokens cannot be guessed.
                    throw new AuthenticationFailed("the bearer token is invalid or expired", Optional.empty());
                }
                String subject = verified.get().subject();
                Identity who = subject.isEmpty() ? Identity.ANONYMOUS : Identity.user(subject, policy.groupsOf(subject));
                yield new Caller(who, Optional.of(verified.get().grants()), verified.get().external());
            }
            case Credentials.Certificate c -> new Caller(Identity.user(c.user(), policy.groupsOf(c.user())), Optional.empty(), false);
        };
    }

    /** May {@code caller} do {@code action} on {@code repository}? */
    public Decision check(Caller caller, String repository, Action action) {
        if (mode == Mode.NONE) return Decision.ALLOWED;
        boolean byRules = policy.allowed(caller.identity(), repository).contains(action);
        if (caller.tokenGrants().isPresent()) {
            boolean byToken = caller.tokenGrants().get().stream().anyMatch(g -> g.permits(repository, action));
            // An external issuer's grants are its word; Cairn's own tokens are re-checked against today's rules.
            if (byToken && (caller.externalToken() || byRules)) return Decision.ALLOWED;
            return byRules || caller.externalToken() || caller.identity().anonymous() ? Decision.CHALLENGE : Decision.DENIED;
        }
        if (byRules) return Decision.ALLOWED;
        return caller.identity().anonymous() ? Decision.CHALLENGE : Decision.DENIED;
    }

    /** Whether the caller may use the admin API and /metrics; a token must carry the {@code registry:admin:*} grant. */
    public Decision checkAdmin(Caller caller) {
        if (mode == Mode.NONE) return Decision.ALLOWED;
        if (caller.identity().anonymous()) return Decision.CHALLENGE;
        if (caller.tokenGrants().isPresent()) {
            boolean granted = caller.tokenGrants().get().stream().anyMatch(g -> g.type().equals("registry") && g.name().equals("admin"));
            if (!granted) return policy.isAdmin(caller.identity()) ? Decision.CHALLENGE : Decision.DENIED;
            return caller.externalToken() || policy.isAdmin(caller.identity()) ? Decision.ALLOWED : Decision.DENIED;
        }
        return policy.isAdmin(caller.identity()) ? Decision.ALLOWED : Decision.DENIED;
    }

    /** Whether the rules let the caller's user pull the repository, whatever a token limits them to (for the catalog). */
    public boolean rulesAllowPull(Caller caller, String repository) {
        return mode == Mode.NONE || policy.allowed(caller.identity(), repository).contains(Action.PULL);
    }

    /** Whether the caller is someone (not anonymous), or auth is off. */
    public boolean isKnown(Caller caller) {
        return mode == Mode.NONE || !caller.identity().anonymous();
    }

    /**
     * The token endpoint's answer: of the requested scopes, the actions the rules give this caller
     * (anonymous callers get what anonymous rules allow). Unknown scope types are dropped.
     */
    public String issueToken(Caller caller, List<Grant> requested) {
        TokenService service = tokens.orElseThrow(() -> new IllegalStateException("token mode is off"));
        List<Grant> granted = new ArrayList<>();
        for (Grant want : requested) {
            if (want.type().equals("registry")) {
                // registry:catalog:* for any known user (the listing is filtered by the rules);
                // registry:admin:* only for admins.
                boolean catalog = want.name().equals("catalog") && !caller.identity().anonymous();
                boolean admin = want.name().equals("admin") && policy.isAdmin(caller.identity());
                if (catalog || admin) granted.add(new Grant("registry", want.name(), Set.of("*")));
                continue;
            }
            if (!want.type().equals("repository")) continue;
            Set<String> actions = new LinkedHashSet<>();
            Set<Action> allowed = policy.allowed(caller.identity(), want.name());
            for (String action : want.actions()) {
                if (action.equals("*")) {
                    allowed.forEach(a -> actions.add(a.wireName()));
                } else {
                    try {
                        if (allowed.contains(Action.parse(action))) actions.add(action);
                    } catch (IllegalArgumentException unknown) {
                        // not an action Cairn grants
                    }
                }
            }
            granted.add(new Grant("repository", want.name(), actions));
        }
        return service.issue(caller.identity().anonymous() ? "" : caller.identity().user(), granted);
    }
}
