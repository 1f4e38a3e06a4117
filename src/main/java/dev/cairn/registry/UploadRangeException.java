package dev.cairn.registry;

/** A chunk that does not continue the upload where it ends; the client should resume from {@link #uploadSize()}. */
public final class UploadRangeException extends RegistryException {
    private final String uploadId;
    private final long uploadSize;

    public UploadRangeException(String uploadId, long uploadSize, String message) {
        super(ErrorCode.BLOB_UPLOAD_INVALID, message);
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
