package dev.cairn.mirror;

import java.io.IOException;

/**
 * This Cairn could not keep what an upstream sent (its disk or its database failed): not the upstream's fault, so it
 * does not make the upstream count as down, and clients are not told local paths.
 */
public final class LocalStoreFailure extends IOException {
    public LocalStoreFailure(String message, Throwable cause) {
        super(message, cause);
    }
}
