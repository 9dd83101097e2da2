"""The data model: the documents of a book and the values they hold."""
