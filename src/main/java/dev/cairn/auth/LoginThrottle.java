package dev.cairn.auth;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Slows password guessing without locking out the fleet. Failures are counted per user name and client
 * address together, and per client address alone:
 * <ul>
 *   <li>A user name that fails {@code maxFailures} times within {@code window} from one address is refused
 *   there for {@code cooldown} (429), right password or not, so a guesser learns nothing meanwhile. Only
 *   that user's success there clears the count; another user's does not.</li>
 *   <li>An address that fails {@link #ADDRESS_FACTOR} times as often, whatever the user names (it may be a
 *   proxy many runners share), gets 429 instead of 401 for every further wrong password during the cooldown,
 *   so clients back off; a right password, or any valid token, from it is still accepted. Behind a proxy every runner may share one
 *   address, and one guesser must not refuse them all.</li>
 * </ul>
 * Tokens are never counted or refused here: they expire in normal use and cannot be guessed.
 */
public final class LoginThrottle {
    /**
     * Keys tracked per counter; beyond it the least recently failed go first. A flood of made-up names or
     * addresses must not grow the heap: with names cut to a fixed size, this holds a few MiB at most. (A
     * guesser who floods this many other keys to push its own out has been slowed to a handful of guesses
     * per ten thousand requests, and the address count sees the flood.)
     */
    static final int MAX_KEYS = 10_000;
    /** User names longer than this are counted by their hash: a name of 64 KiB must not cost 64 KiB. */
    private static final int MAX_NAME = 64;
    /** How many more failures an address may have than one user name at it before it is told to back off. */
    static final int ADDRESS_FACTOR = 5;

    private final Duration window;
    private final Duration cooldown;
    private final Clock clock;
    private final Counter byUserAtAddress;
    private final Counter byAddress;

    public LoginThrottle(int maxFailures, Duration window, Duration cooldown, Clock clock) {
        this.window = window;
        this.cooldown = cooldown;
        this.clock = clock;
        this.byUserAtAddress = new Counter(maxFailures);
        this.byAddress = new Counter(maxFailures * ADDRESS_FACTOR);
    }

    /** When {@code user} may try a password from {@code address} again, if that pair is cooling off now. */
    public Optional<Instant> userBlocked(String user, String address) {
        return byUserAtAddress.blocked(key(user, address));
    }

    /**
     * Records a wrong password; returns when the address may fail again without a 429, if it was cooling off
     * already (the failure that reaches the limit is still answered 401, as for a user name).
     */
    public Optional<Instant> failed(String user, String address) {
        Optional<Instant> cooling = byAddress.blocked(address);
        byUserAtAddress.failed(key(user, address));
        byAddress.failed(address);
        return cooling;
    }

    /** A right password: only this user's count at this address is forgotten. */
    public void succeeded(String user, String address) {
        byUserAtAddress.forget(key(user, address));
    }

    /** Keys remembered by both counts (for tests of the bound). */
    int trackedKeys() {
        return byUserAtAddress.size() + byAddress.size();
    }

    private static String key(String user, String address) {
        String name = user.length() <= MAX_NAME ? user : "sha256:" + java.util.HexFormat.of().formatHex(sha256(user));
        return name + "\u0000" + address;
    }

    private static byte[] sha256(String text) {
        try {
            return java.security.MessageDigest.getInstance("SHA-256").digest(text.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
    }

    /** Failures within the window per key, and the keys cooling off. */
    private final class Counter {
        private final int limit;
        /** Recent failures per key, least recently failed first; guarded by itself. */
        private final Map<String, Deque<Instant>> failures = new java.util.LinkedHashMap<>(16, 0.75f, true);

        Counter(int limit) {
            this.limit = limit;
        }

        private final Map<String, Instant> blockedUntil = new ConcurrentHashMap<>();

        Optional<Instant> blocked(String key) {
            Instant until = blockedUntil.get(key);
            if (until == null) return Optional.empty();
            if (clock.instant().isBefore(until)) return Optional.of(until);
            blockedUntil.remove(key, until);
            return Optional.empty();
        }

        void failed(String key) {
            Instant now = clock.instant();
            synchronized (failures) {
                Deque<Instant> recent = failures.computeIfAbsent(key, k -> new ArrayDeque<>());
                recent.addLast(now);
                while (!recent.isEmpty() && recent.peekFirst().isBefore(now.minus(window))) recent.removeFirst();
                if (recent.size() >= limit) {
                    blockedUntil.put(key, now.plus(cooldown));
                    recent.clear();
                }
                var eldest = failures.keySet().iterator();
                while (failures.size() > MAX_KEYS && eldest.hasNext()) {
                    eldest.next();
                    eldest.remove();
                }
            }
            // Cooling-offs end by themselves; past the bound, the ended ones are dropped (a live one never is).
            if (blockedUntil.size() > MAX_KEYS) blockedUntil.entrySet().removeIf(e -> !now.isBefore(e.getValue()));
        }

        int size() {
            synchronized (failures) {
                return failures.size();
            }
        }

        void forget(String key) {
            synchronized (failures) {
                failures.remove(key);
            }
        }
    }
}
