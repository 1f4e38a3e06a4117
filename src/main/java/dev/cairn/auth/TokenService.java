package dev.cairn.auth;

import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.JWSVerifier;
import com.nimbusds.jose.crypto.ECDSASigner;
import com.nimbusds.jose.crypto.factories.DefaultJWSVerifierFactory;
import com.nimbusds.jose.jwk.Curve;
import com.nimbusds.jose.jwk.ECKey;
import com.nimbusds.jose.jwk.JWK;
import com.nimbusds.jose.jwk.JWKSet;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.Key;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.interfaces.ECPrivateKey;
import java.security.interfaces.ECPublicKey;
import java.security.spec.ECGenParameterSpec;
import java.text.ParseException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;

/**
 * Issues and checks the bearer tokens of the Docker registry token protocol: short-lived JWTs signed by
 * Cairn (ES256) whose {@code access} claim lists what the holder may do, and, when configured, tokens of
 * an external issuer whose public key (PEM) or key set (JWKS file) Cairn trusts.
 */
public final class TokenService {
    /** Clocks of clients and issuers drift a little; tokens are short-lived anyway. */
    private static final Duration SKEW = Duration.ofSeconds(5);

    private final ECKey signingKey;
    private final String issuer;
    private final String service;
    private final Duration ttl;
    private final Optional<ExternalIssuer> external;
    private final Clock clock;

    /** A trusted issuer other than Cairn, and its keys. */
    public record ExternalIssuer(String name, List<Key> keys) {
        public ExternalIssuer {
            keys = List.copyOf(keys);
        }

        /** Reads a PEM public key or certificate, or a JWKS JSON file. */
        public static ExternalIssuer load(String name, Path keyFile) throws IOException {
            String text = Files.readString(keyFile);
            if (text.strip().startsWith("{")) {
                try {
                    List<Key> keys = new ArrayList<>();
                    for (JWK jwk : JWKSet.parse(text).getKeys()) {
                        keys.add(switch (jwk.getKeyType().getValue()) {
                            case "EC" -> jwk.toECKey().toPublicKey();
                            case "RSA" -> jwk.toRSAKey().toPublicKey();
                            default -> throw new IOException(keyFile + ": unsupported key type " + jwk.getKeyType());
                        });
                    }
                    return new ExternalIssuer(name, keys);
                } catch (ParseException | JOSEException e) {
                    throw new IOException(keyFile + ": not a JWKS document: " + e.getMessage(), e);
                }
            }
            return new ExternalIssuer(name, List.of(Pem.publicKey(keyFile)));
        }
    }

    /** A checked token: whose it is and what it grants. */
    public record Verified(String subject, List<Grant> grants, boolean external) {
    }

    public TokenService(ECKey signingKey, String issuer, String service, Duration ttl, Optional<ExternalIssuer> external, Clock clock) {
        this.signingKey = signingKey;
        this.issuer = issuer;
        this.service = service;
        this.ttl = ttl;
        this.external = external;
        this.clock = clock;
    }

    /** Cairn's signing key: read from {@code file}, or made (P-256) and written there on first use. */
    public static ECKey loadOrCreateKey(Path file) throws IOException {
        try {
            KeyPair pair;
            if (Files.exists(file)) {
                PrivateKey key = Pem.privateKey(file);
                if (!(key instanceof ECPrivateKey ec)) throw new IOException(file + ": the token signing key must be an EC P-256 key");
                PublicKey pub = java.security.KeyFactory.getInstance("EC").generatePublic(
                        new java.security.spec.ECPublicKeySpec(multiply(ec), ec.getParams()));
                pair = new KeyPair(pub, key);
            } else {
                KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
                generator.initialize(new ECGenParameterSpec("secp256r1"));
                pair = generator.generateKeyPair();
                Pem.writePrivateKey(pair.getPrivate(), file);
            }
            return new ECKey.Builder(Curve.P_256, (ECPublicKey) pair.getPublic()).privateKey((ECPrivateKey) pair.getPrivate())
                    .keyIDFromThumbprint().build();
        } catch (java.security.GeneralSecurityException | JOSEException e) {
            throw new IOException("cannot load the token signing key " + file + ": " + e.getMessage(), e);
        }
    }

    /** The public point of an EC private key (Q = d·G), so only the private key needs storing. */
    private static java.security.spec.ECPoint multiply(ECPrivateKey key) {
        var params = key.getParams();
        var bc = org.bouncycastle.jcajce.provider.asymmetric.util.EC5Util.convertSpec(params);
        var q = bc.getG().multiply(key.getS()).normalize();
        return new java.security.spec.ECPoint(q.getAffineXCoord().toBigInteger(), q.getAffineYCoord().toBigInteger());
    }

    public String service() {
        return service;
    }

    public Duration ttl() {
        return ttl;
    }

    /** A signed token for {@code subject} granting exactly {@code grants}. */
    public String issue(String subject, List<Grant> grants) {
        Instant now = clock.instant();
        List<Map<String, Object>> access = new ArrayList<>();
        for (Grant g : grants) access.add(Map.of("type", g.type(), "name", g.name(), "actions", List.copyOf(g.actions())));
        JWTClaimsSet claims = new JWTClaimsSet.Builder()
                .issuer(issuer).subject(subject).audience(service)
                .issueTime(Date.from(now)).notBeforeTime(Date.from(now.minus(SKEW))).expirationTime(Date.from(now.plus(ttl)))
                .jwtID(UUID.randomUUID().toString())
                .claim("access", access)
                .build();
        try {
            SignedJWT jwt = new SignedJWT(new JWSHeader.Builder(JWSAlgorithm.ES256).keyID(signingKey.getKeyID()).build(), claims);
            jwt.sign(new ECDSASigner(signingKey));
            return jwt.serialize();
        } catch (JOSEException e) {
            throw new IllegalStateException("cannot sign a token", e);
        }
    }

    /** Checks signature, issuer, audience and time; empty for anything not valid now. */
    public Optional<Verified> verify(String token) {
        try {
            SignedJWT jwt = SignedJWT.parse(token);
            JWTClaimsSet claims = jwt.getJWTClaimsSet();
            boolean ours = issuer.equals(claims.getIssuer());
            boolean theirs = !ours && external.isPresent() && external.get().name().equals(claims.getIssuer());
            if (!ours && !theirs) return Optional.empty();
            List<Key> keys = ours ? List.of(signingKey.toECPublicKey()) : external.get().keys();
            if (!verifiedByAny(jwt, keys)) return Optional.empty();
            Instant now = clock.instant();
            if (claims.getExpirationTime() == null || !now.isBefore(claims.getExpirationTime().toInstant().plus(SKEW))) return Optional.empty();
            if (claims.getNotBeforeTime() != null && now.isBefore(claims.getNotBeforeTime().toInstant().minus(SKEW))) return Optional.empty();
            if (claims.getAudience() == null || !claims.getAudience().contains(service)) return Optional.empty();
            return Optional.of(new Verified(Optional.ofNullable(claims.getSubject()).orElse(""), grants(claims), theirs));
        } catch (ParseException | JOSEException | RuntimeException e) {
            return Optional.empty();
        }
    }

    private static boolean verifiedByAny(SignedJWT jwt, List<Key> keys) throws JOSEException {
        for (Key key : keys) {
            try {
                JWSVerifier verifier = new DefaultJWSVerifierFactory().createJWSVerifier(jwt.getHeader(), key);
                if (jwt.verify(verifier)) return true;
            } catch (JOSEException wrongKeyType) {
                // try the next key
            }
        }
        return false;
    }

    private static List<Grant> grants(JWTClaimsSet claims) {
        List<Grant> grants = new ArrayList<>();
        Object access = claims.getClaim("access");
        if (access instanceof List<?> entries) {
            for (Object entry : entries) {
                if (entry instanceof Map<?, ?> m && m.get("type") instanceof String type && m.get("name") instanceof String name
                        && m.get("actions") instanceof List<?> actions) {
                    grants.add(new Grant(type, name, actions.stream().map(String::valueOf).collect(java.util.stream.Collectors.toSet())));
                }
            }
        }
        return grants;
    }
}
