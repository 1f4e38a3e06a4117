package dev.cairn.registry;

import dev.cairn.values.Digest;
import dev.cairn.values.RepositoryName;

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

    /** A keyed entry found and served ({@code bytes} of content; 0 for a HEAD), saving the client the {@code savedMillis} it said the content took to make. */
    default void entryHit(String kind, RepositoryName namespace, long bytes, long savedMillis) {
    }

    /** A keyed entry asked for and not there. */
    default void entryMiss(String kind, RepositoryName namespace) {
    }

    /** A keyed entry written ({@code bytes} of content received). */
    default void entryStored(String kind, RepositoryName namespace, long bytes) {
    }

    /** A keyed entry deleted by a client (not by retention); its content goes with the next sweep if nothing else holds it. */
    default void entryDeleted(String kind, RepositoryName namespace, String key) {
    }

    /** Bytes that now count against the budget (a blob new to the store, a manifest document). */
    default void bytesStored(long bytes) {
    }

    /** A manifest deleted through the API (not by retention). */
    default void manifestDeleted(RepositoryName repository, Digest digest, long bytes) {
    }

    /**
     * Called before {@code bytes} of new content become visible; throws a {@link dev.cairn.values.Refusal} to refuse them.
     * What it admits is held for the caller until it closes the admission, once the bytes are stored (and
     * {@link #bytesStored} said so) or abandoned, so concurrent admissions cannot all take the same room.
     */
    default Admission admit(long bytes) {
        return Admission.NONE;
    }

    /** Room held for bytes on their way in; closing it gives back what was not stored. Closing twice is harmless. */
    interface Admission extends AutoCloseable {
        Admission NONE = () -> { };

        @Override
        void close();
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
            public void entryHit(String kind, RepositoryName namespace, long bytes, long savedMillis) {
                first.entryHit(kind, namespace, bytes, savedMillis);
                second.entryHit(kind, namespace, bytes, savedMillis);
            }

            @Override
            public void entryMiss(String kind, RepositoryName namespace) {
                first.entryMiss(kind, namespace);
                second.entryMiss(kind, namespace);
            }

            @Override
            public void entryStored(String kind, RepositoryName namespace, long bytes) {
                first.entryStored(kind, namespace, bytes);
                second.entryStored(kind, namespace, bytes);
            }

            @Override
            public void entryDeleted(String kind, RepositoryName namespace, String key) {
                first.entryDeleted(kind, namespace, key);
                second.entryDeleted(kind, namespace, key);
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
            public Admission admit(long bytes) {
                Admission one = first.admit(bytes);
                Admission two;
                try {
                    two = second.admit(bytes);
                } catch (RuntimeException e) {
                    one.close();
                    throw e;
                }
                return () -> {
                    two.close();
                    one.close();
                };
            }
        };
    }
}
