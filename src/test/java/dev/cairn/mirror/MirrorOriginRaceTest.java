package dev.cairn.mirror;

import dev.cairn.config.MirrorRule;
import dev.cairn.config.RemoteRegistry;
import dev.cairn.metadata.MetadataStore;
import dev.cairn.values.Digest;
import dev.cairn.values.Refusal;
import dev.cairn.values.RepositoryName;
import org.junit.jupiter.api.Test;

import java.lang.reflect.Proxy;
import java.net.URI;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Written by a reviewer (it failed with a NoSuchElementException, a 500): MirrorResource asks {@code ruleFor} and then Mirror asks {@code route(...).orElseThrow()} again, each
 * reading the repository's origin afresh; a push that makes a new repository the clients' between the two reads
 * (its first blob linked) turns a read into a NoSuchElementException (500) instead of a local answer or a 404.
 */
class MirrorOriginRaceTest {
    @Test
    void aRepositoryDecidedForThePushersBetweenTheTwoLooksIsNotAnInternalError() {
        AtomicInteger looks = new AtomicInteger();
        MetadataStore metadata = (MetadataStore) Proxy.newProxyInstance(MetadataStore.class.getClassLoader(), new Class<?>[]{MetadataStore.class},
                (proxy, method, args) -> switch (method.getName()) {
                    // undecided at the first look, the pushers' from the second on (their first blob was linked meanwhile)
                    case "repositoryMirrored" -> looks.getAndIncrement() == 0 ? Optional.empty() : Optional.of(false);
                    case "isBlobLinked" -> false;
                    case "hashCode" -> 1;
                    case "equals" -> proxy == args[0];
                    case "toString" -> "metadata";
                    default -> throw new UnsupportedOperationException(method.getName());
                });
        MirrorRule rule = new MirrorRule("", new RemoteRegistry(URI.create("http://127.0.0.1:9"), Optional.empty(), Optional.empty()),
                Duration.ofHours(1), Duration.ofHours(1), List.of());
        Mirror mirror = new Mirror(List.of(rule), r -> null, null, null, metadata, null, Mirror.Events.NONE, Clock.systemUTC(), 4 << 20, name -> false);
        RepositoryName repository = RepositoryName.of("team/app");
        assertThat(mirror.ruleFor(repository)).as("the first look: undecided, so the default mirror's").isPresent();
        Object outcome;
        try {
            outcome = mirror.blob(repository, Digest.sha256(new byte[]{1}));
        } catch (Refusal r) {
            outcome = r;
        } catch (RuntimeException e) {
            outcome = e;
        }
        assertThat(outcome).as("answered locally (empty) or refused, not an internal error").isNotInstanceOf(java.util.NoSuchElementException.class);
    }
}
