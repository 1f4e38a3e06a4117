package dev.cairn.auth;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Sources (client addresses) that fail to log in {@code maxFailures} times within {@code window} are
 * refused for {@code cooldown} (429), which makes guessing passwords over the network slow.
 */
public final class LoginThrottle {
    private final int maxFailures;
    private final Duration window;
    private final Duration cooldown;
    private final Clock clock;
    private final Map<String, Deque<Instant>> failures = new ConcurrentHashMap<>();
    private final Map<String, Instant> blockedUntil = new ConcurrentHashMap<>();

    public LoginThrottle(int maxFailures, Duration window, Duration cooldown, Clock clock) {
        this.maxFailures = maxFailures;
        this.window = window;
        this.cooldown = cooldown;
        this.clock = clock;
    }

    /** When the source may try again, if it is cooling off now. */
    public java.util.Optional<Instant> blocked(String source) {
        Instant until = blockedUntil.get(source);
        if (until == null) return java.util.Optional.empty();
        if (clock.instant().isBefore(until)) return java.util.Optional.of(until);
        blockedUntil.remove(source, until);
        return java.util.Optional.empty();
    }

    public void failed(String source) {
        Instant now = clock.instant();
        Deque<Instant> recent = failures.computeIfAbsent(source, k -> new ArrayDeque<>());
        synchronized (recent) {
            recent.addLast(now);
            while (!recent.isEmpty() && recent.peekFirst().isBefore(now.minus(window))) recent.removeFirst();
            if (recent.size() >= maxFailures) {
                blockedUntil.put(source, now.plus(cooldown));
                recent.clear();
            }
        }
        if (failures.size() > 100_000) failures.clear(); // a flood of sources must not grow this without bound
    }

    public void succeeded(String source) {
        failures.remove(source);
    }
}
