"""repo/blobstores."""
