package dev.cairn.registry;

import dev.cairn.values.Refusal;

/** A chunk that does not continue the upload where it ends; the client should resume from {@link #uploadSize()}. */
public final class UploadRangeException extends Refusal {
    private final String uploadId;
    private final long uploadSize;

    public UploadRangeException(String uploadId, long uploadSize, String message) {
        super(Reason.UPLOAD_OUT_OF_ORDER, message);
        this.uploadId = uploadId;
        this.uploadSize = uploadSize;
    }

    public String uploadId() {
        return uploadId;
    }

    public long uploadSize() {
        return uploadSize;
    }
}
