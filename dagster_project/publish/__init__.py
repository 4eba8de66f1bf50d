"""Publishing what passed the audit: the serving database of the embedded mode is replaced by one
file rename, the `published` schema of the shared mode is swapped in one transaction."""
