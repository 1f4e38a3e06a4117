package dev.cairn.registry;

import dev.cairn.metadata.JdbcMetadataStore;
import dev.cairn.metadata.LastUse;
import dev.cairn.metadata.MetadataException;
import dev.cairn.metadata.MetadataStore;
import dev.cairn.metadata.NewManifest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Collection;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class LastUseRecorderTest {
    @Test
    void aFailedFlushKeepsTheBatchForTheNextOne(@TempDir Path dir) {
        try (JdbcMetadataStore real = JdbcMetadataStore.sqlite(dir.resolve("cairn.db"))) {
            RepositoryName repo = RepositoryName.of("use/app");
            Digest digest = Digest.sha256("{}".getBytes());
            Instant pushedAt = Instant.parse("2026-01-01T00:00:00Z");
            assertThat(real.putManifest(new NewManifest(repo, digest, MediaTypes.OCI_INDEX,
                    "{\"schemaVersion\":2,\"manifests\":[]}".getBytes(), Optional.empty(), Optional.empty(), Set.of(), pushedAt),
                    Optional.empty())).isEmpty();

            // the real store, except that its first last-use write fails (the database was busy, say)
            AtomicInteger writes = new AtomicInteger();
            MetadataStore flaky = (MetadataStore) Proxy.newProxyInstance(getClass().getClassLoader(), new Class<?>[]{MetadataStore.class},
                    (proxy, method, args) -> {
                        if (method.getName().equals("recordLastUse") && writes.getAndIncrement() == 0) {
                            throw new MetadataException("database is locked", null);
                        }
                        try {
                            return method.invoke(real, args);
                        } catch (InvocationTargetException e) {
                            throw e.getCause();
                        }
                    });
            Instant usedAt = Instant.parse("2026-06-01T00:00:00Z");
            try (LastUseRecorder recorder = new LastUseRecorder(flaky, Clock.fixed(usedAt, java.time.ZoneOffset.UTC), Duration.ofHours(1))) {
                recorder.manifestUsed(repo, digest);
                assertThatThrownBy(recorder::flush).isInstanceOf(MetadataException.class);
                assertThat(real.manifestLastUse(repo, digest)).hasValue(pushedAt);
                recorder.flush();
                assertThat(real.manifestLastUse(repo, digest)).hasValue(usedAt);
            }
            assertThat(writes.get()).isEqualTo(2);
        }
    }

    @Test
    void timesNeverMoveBackwards(@TempDir Path dir) {
        try (JdbcMetadataStore store = JdbcMetadataStore.sqlite(dir.resolve("cairn.db"))) {
            RepositoryName repo = RepositoryName.of("use/back");
            Digest digest = Digest.sha256("[]".getBytes());
            Instant pushedAt = Instant.parse("2026-03-01T00:00:00Z");
            store.putManifest(new NewManifest(repo, digest, MediaTypes.OCI_INDEX, "{\"schemaVersion\":2,\"manifests\":[]}".getBytes(),
                    Optional.empty(), Optional.empty(), Set.of(), pushedAt), Optional.empty());
            Collection<LastUse> older = java.util.List.of(new LastUse.OfManifest(repo, digest, pushedAt.minusSeconds(60)));
            store.recordLastUse(older);
            assertThat(store.manifestLastUse(repo, digest)).hasValue(pushedAt);
        }
    }
}
