"""MongoDB: the storage of the crawl's items.

- :mod:`.config`: the ``MONGO_*`` settings, read once, and which errors are transient;
- :mod:`.documents`: an item as an upsert, with keys MongoDB stores as they are;
- :mod:`.collections`: each collection's indexes and ``$jsonSchema`` validator;
- :mod:`.readers`: what spiders read back (the product ids of the comments spider).

The pipeline that writes is :class:`crawler.pipelines.mongo.MongoUpsertPipeline`.
The crawl reaches MongoDB through PyMongo's async client
(:class:`pymongo.AsyncMongoClient`, the successor of Motor), on its event loop.
"""
