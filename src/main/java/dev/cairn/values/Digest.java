package dev.cairn.values;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.regex.Pattern;

/**
 * A content digest such as {@code sha256:6c3c...}. Only algorithms Cairn can verify are accepted
 * (sha256, sha512), in their canonical lower-case hex form, so that a digest always names one file.
 */
public record Digest(String algorithm, String hex) implements Comparable<Digest> {
    private static final Pattern GRAMMAR = Pattern.compile("[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+");
    private static final Pattern SHA256 = Pattern.compile("[a-f0-9]{64}");
    private static final Pattern SHA512 = Pattern.compile("[a-f0-9]{128}");

    public Digest {
        Pattern hexPattern = switch (algorithm) {
            case "sha256" -> SHA256;
            case "sha512" -> SHA512;
            default -> throw new Refusal(Refusal.Reason.INVALID_DIGEST, "unsupported digest algorithm: " + algorithm);
        };
        if (!hexPattern.matcher(hex).matches()) {
            throw new Refusal(Refusal.Reason.INVALID_DIGEST, "malformed " + algorithm + " digest");
        }
    }

    /** Parses {@code algorithm:hex}; refuses anything else as an invalid digest for anything else. */
    public static Digest parse(String text) {
        if (text == null || text.length() > 256 || !GRAMMAR.matcher(text).matches()) {
            throw new Refusal(Refusal.Reason.INVALID_DIGEST, "invalid digest: " + ClientText.shortened(text));
        }
        int colon = text.indexOf(':');
        return new Digest(text.substring(0, colon), text.substring(colon + 1));
    }

    /** True when {@code text} is shaped like a digest (has an algorithm prefix), valid or not. */
    public static boolean looksLikeDigest(String text) {
        return text.indexOf(':') >= 0;
    }

    public static Digest sha256(byte[] content) {
        return new Digest("sha256", HexFormat.of().formatHex(newHasher("sha256").digest(content)));
    }

    public static Digest of(String algorithm, byte[] hash) {
        return new Digest(algorithm, HexFormat.of().formatHex(hash));
    }

    /** A fresh hasher for this digest's algorithm. */
    public MessageDigest newHasher() {
        return newHasher(algorithm);
    }

    public static MessageDigest newHasher(String algorithm) {
        try {
            return MessageDigest.getInstance(switch (algorithm) {
                case "sha256" -> "SHA-256";
                case "sha512" -> "SHA-512";
                default -> throw new IllegalArgumentException(algorithm);
            });
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK lacks " + algorithm, e);
        }
    }

    @Override
    public String toString() {
        return algorithm + ":" + hex;
    }

    @Override
    public int compareTo(Digest other) {
        return toString().compareTo(other.toString());
    }
}
