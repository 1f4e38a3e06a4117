package dev.cairn.registry;

/** A manifest over the configured size limit; nothing was stored. */
public final class ManifestTooLargeException extends RegistryException {
    public ManifestTooLargeException(long limit) {
        super(ErrorCode.MANIFEST_INVALID, "manifest exceeds the limit of " + limit + " bytes");
    }
}
