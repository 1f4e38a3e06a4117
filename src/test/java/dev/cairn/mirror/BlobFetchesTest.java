package dev.cairn.mirror;

import dev.cairn.values.Digest;
import dev.cairn.values.RepositoryName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/** a fetch ended by an Error (OutOfMemoryError, StackOverflowError) rather than an Exception. */
class BlobFetchesTest {
    @Test
    void aFetchEndedByAnErrorEndsItsWaitersToo(@TempDir Path dir) throws Exception {
        BlobFetches fetches = new BlobFetches(dir.resolve("mirror-scratch"), null); // the store is never reached
        BlobFetches.Fetch f = fetches.fetch(RepositoryName.of("hub/app"), Digest.sha256(new byte[]{1}),
                () -> {
                    throw new OutOfMemoryError("Java heap space (simulated)");
                }, () -> false, n -> {
                });
        CompletableFuture<Object> waiter = CompletableFuture.supplyAsync(() -> {
            try {
                return f.awaitLength();
            } catch (Exception e) {
                return e;
            }
        });
        Object outcome;
        try {
            outcome = waiter.get(15, TimeUnit.SECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
            outcome = "still waiting after 15 s";
        }
        assertThat(outcome).as("the waiter is told the fetch failed").isInstanceOf(Exception.class);
    }
}
