"""Field differences: one CB event against Rails' outcome for it."""
