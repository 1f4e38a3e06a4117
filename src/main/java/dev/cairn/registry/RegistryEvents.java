package dev.cairn.registry;

/**
 * What the registry tells the rest of Cairn as it works: metrics count these, retention keeps its
 * byte count and may refuse new bytes (the hard budget limit) in {@link #admit}.
 */
public interface RegistryEvents {
    RegistryEvents NONE = new RegistryEvents() {
    };

    default void manifestHit(RepositoryName repository) {
    }

    default void manifestMiss(RepositoryName repository) {
    }

    default void blobBytesServed(long bytes) {
    }

    default void blobBytesReceived(long bytes) {
    }

    /** Bytes that now count against the budget (a blob new to the store, a manifest document). */
    default void bytesStored(long bytes) {
    }

    /** A manifest deleted through the API (not by retention). */
    default void manifestDeleted(RepositoryName repository, Digest digest, long bytes) {
    }

    /** Called before {@code bytes} of new content become visible; throws a RegistryException to refuse them. */
    default void admit(long bytes) {
    }

    /** Tells both, in order. */
    static RegistryEvents both(RegistryEvents first, RegistryEvents second) {
        return new RegistryEvents() {
            @Override
            public void manifestHit(RepositoryName repository) {
                first.manifestHit(repository);
                second.manifestHit(repository);
            }

            @Override
            public void manifestMiss(RepositoryName repository) {
                first.manifestMiss(repository);
                second.manifestMiss(repository);
            }

            @Override
            public void blobBytesServed(long bytes) {
                first.blobBytesServed(bytes);
                second.blobBytesServed(bytes);
            }

            @Override
            public void blobBytesReceived(long bytes) {
                first.blobBytesReceived(bytes);
                second.blobBytesReceived(bytes);
            }

            @Override
            public void bytesStored(long bytes) {
                first.bytesStored(bytes);
                second.bytesStored(bytes);
            }

            @Override
            public void manifestDeleted(RepositoryName repository, Digest digest, long bytes) {
                first.manifestDeleted(repository, digest, bytes);
                second.manifestDeleted(repository, digest, bytes);
            }

            @Override
            public void admit(long bytes) {
                first.admit(bytes);
                second.admit(bytes);
            }
        };
    }
}
