"""Framework-free pieces every service shares; they import nothing else of this project."""
