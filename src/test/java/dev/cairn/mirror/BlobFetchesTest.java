package dev.cairn.mirror;

import dev.cairn.values.Digest;
import dev.cairn.values.RepositoryName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.nio.file.Path;
import java.util.Optional;
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

    /** Written by a reviewer (it hung): the {@code held} check is a database read, and a failover makes it throw. */
    @Test
    void aHeldCheckThatFailsLeavesNoFetchBehindForLaterRequestsToWaitOn(@TempDir Path dir) throws Exception {
        BlobFetches fetches = new BlobFetches(dir.resolve("mirror-scratch"), null);
        byte[] content = {1, 2, 3};
        Digest digest = Digest.sha256(content);
        RepositoryName repository = RepositoryName.of("hub/app");
        BlobFetches.Source source = () -> Optional.of(new Upstream.Blob(content.length, new ByteArrayInputStream(content)));
        try {
            fetches.fetch(repository, digest, source, () -> {
                throw new IllegalStateException("the metadata store is unavailable (simulated: a failover)");
            }, n -> {
            });
        } catch (IllegalStateException expected) {
            // this request fails: fine
        }
        // the database is back; the next request for the blob
        BlobFetches.Fetch next = fetches.fetch(repository, digest, source, () -> false, n -> {
        });
        CompletableFuture<Object> waiter = CompletableFuture.supplyAsync(() -> {
            try {
                return next.awaitLength();
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
        assertThat(outcome).as("the next request for the blob gets an answer (its length, or a failure)").isNotEqualTo("still waiting after 15 s");
    }
}
