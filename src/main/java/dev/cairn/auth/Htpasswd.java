package dev.cairn.auth;

import at.favre.lib.crypto.bcrypt.BCrypt;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * Users and bcrypt password hashes from an Apache htpasswd file ({@code htpasswd -B}). The file is read
 * again when it changes, so adding a runner needs no restart. Other hash schemes (MD5, SHA-1, crypt)
 * are refused: they are too cheap to brute-force.
 */
public final class Htpasswd {
    private static final Logger log = LoggerFactory.getLogger(Htpasswd.class);
    /** htpasswd truncates passwords at bcrypt's 72 bytes; so must the check, or long secrets never match. */
    private static final BCrypt.Verifyer VERIFIER = BCrypt.verifyer(BCrypt.Version.VERSION_2Y,
            at.favre.lib.crypto.bcrypt.LongPasswordStrategies.truncate(BCrypt.Version.VERSION_2Y));

    private final Path file;
    private volatile Map<String, byte[]> hashes = Map.of();
    /**
     * Checked against when the user is unknown, at the highest cost in the file, so an unknown user
     * costs the same time as a wrong password and user names cannot be probed.
     */
    private volatile byte[] dummyHash = BCrypt.withDefaults().hash(4, "not a password".toCharArray());
    private volatile String loadedVersion;

    public Htpasswd(Path file) {
        this.file = file;
        reloadIfChanged();
        if (hashes.isEmpty()) log.warn("{} holds no bcrypt users: nobody can log in", file);
    }

    /** True when the password is the user's. Takes bcrypt's time whether or not the user exists. */
    public boolean verify(String user, char[] password) {
        reloadIfChanged();
        byte[] hash = hashes.get(user);
        try {
            boolean ok = VERIFIER.verify(password, hash != null ? hash : dummyHash).verified;
            return ok && hash != null;
        } catch (IllegalArgumentException malformed) {
            return false; // a hash the library cannot read never matches
        }
    }

    /** The cost of a "$2y$NN$..." hash. */
    private static int cost(byte[] hash) {
        try {
            return Integer.parseInt(new String(hash, 4, 2, StandardCharsets.US_ASCII));
        } catch (RuntimeException e) {
            return 4;
        }
    }

    private void reloadIfChanged() {
        try {
            // modification time and size: an edit within the same clock tick still shows
            String modified = Files.getLastModifiedTime(file).toMillis() + "/" + Files.size(file);
            if (modified.equals(loadedVersion)) return;
            synchronized (this) {
                if (modified.equals(loadedVersion)) return;
                Map<String, byte[]> loaded = new HashMap<>();
                for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                    line = line.strip();
                    if (line.isEmpty() || line.startsWith("#")) continue;
                    int colon = line.indexOf(':');
                    if (colon <= 0) continue;
                    String user = line.substring(0, colon);
                    String hash = line.substring(colon + 1);
                    if (hash.startsWith("$2a$") || hash.startsWith("$2b$") || hash.startsWith("$2y$")) {
                        loaded.put(user, hash.getBytes(StandardCharsets.UTF_8));
                    } else {
                        log.warn("{}: user {} has a non-bcrypt hash and cannot log in (use htpasswd -B)", file, user);
                    }
                }
                hashes = Map.copyOf(loaded);
                int cost = loaded.values().stream().mapToInt(Htpasswd::cost).max().orElse(4);
                dummyHash = BCrypt.withDefaults().hash(Math.max(4, Math.min(cost, 31)), "not a password".toCharArray());
                if (loadedVersion != null) log.info("{} changed: {} user(s) loaded", file, loaded.size());
                loadedVersion = modified;
            }
        } catch (IOException e) {
            if (loadedVersion == null) throw new UncheckedIOException("cannot read the htpasswd file " + file, e);
            log.warn("cannot re-read {}; keeping the users loaded before: {}", file, e.getMessage());
        }
    }
}
