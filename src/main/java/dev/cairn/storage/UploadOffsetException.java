package dev.cairn.storage;

/** A chunk did not start where the upload ends; nothing was appended. */
public final class UploadOffsetException extends Exception {
    private final long currentSize;

    public UploadOffsetException(long expectedStart, long currentSize) {
        super("chunk starts at " + expectedStart + " but the upload holds " + currentSize + " bytes", null, false, false);
        this.currentSize = currentSize;
    }

    public long currentSize() {
        return currentSize;
    }
}
