package dev.cairn.metadata;

import dev.cairn.values.Digest;

import java.time.Duration;
import java.util.Collection;
import java.util.Optional;
import java.util.function.Supplier;

/** {@link ClusterLocks} for a node that owns its stores: the callers' own in-process locks are the whole story. */
enum SingleNodeLocks implements ClusterLocks {
    INSTANCE;

    @Override
    public <T> T withDigestLocks(Collection<Digest> digests, Supplier<T> work) {
        return work.get();
    }

    @Override
    public void whileCopyingAudit(Runnable work) {
        work.run();
    }

    @Override
    public Optional<AutoCloseable> collectorLock(Duration wait) {
        return Optional.of(() -> { });
    }

    @Override
    public Optional<Lease> tryLease(String duty) {
        return Optional.of(new Lease() {
            @Override
            public boolean held() {
                return true;
            }

            @Override
            public void close() {
            }
        });
    }

    @Override
    public boolean isShared() {
        return false;
    }
}
