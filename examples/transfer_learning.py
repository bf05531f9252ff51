"""keras-io's "Transfer learning & fine-tuning" guide, its end-to-end example, on a folder of
photos: Xception pretrained on ImageNet, frozen, a new head trained on the folder's classes,
then the whole network fine-tuned at a low learning rate. Ported by changing its imports (and
reading the photos from a folder where the guide downloads cats and dogs):

    python examples/transfer_learning.py PHOTOS [--weights imagenet|PATH|none] [--size 150]
        [--epochs 2] [--device cpu|cuda]

``--weights imagenet`` (the guide's) downloads Keras's published Xception weights once into
~/.keras/models; offline, it says which file to fetch and where to put it.

Original: https://keras.io/guides/transfer_learning/
"""

import argparse

import autoconv as keras

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("photos", help="a folder with one sub-folder of images per class")
parser.add_argument("--weights", default="imagenet", help="imagenet, a weights file, or none")
parser.add_argument("--size", type=int, default=150, help="image height and width (>= 71)")
parser.add_argument("--epochs", type=int, default=2)
parser.add_argument("--device", default="cpu")
args = parser.parse_args()
weights = None if args.weights == "none" else args.weights

train_ds, validation_ds = keras.utils.image_dataset_from_directory(
    args.photos,
    validation_split=0.2,
    subset="both",
    seed=1337,
    image_size=(args.size, args.size),
    batch_size=32,
)
num_classes = len(train_ds.class_names)

data_augmentation = keras.Sequential(
    [keras.layers.RandomFlip("horizontal"), keras.layers.RandomRotation(0.1)]
)

base_model = keras.applications.Xception(
    weights=weights,  # Load weights pre-trained on ImageNet.
    input_shape=(args.size, args.size, 3),
    include_top=False,
)  # Do not include the ImageNet classifier at the top.

# Freeze the base_model
base_model.trainable = False

# Create new model on top
inputs = keras.Input(shape=(args.size, args.size, 3))
x = data_augmentation(inputs)  # Apply random data augmentation

# Pre-trained Xception weights requires that input be scaled
# from (0, 255) to a range of (-1., +1.), the rescaling layer
# outputs: `(inputs * scale) + offset`
scale_layer = keras.layers.Rescaling(scale=1 / 127.5, offset=-1)
x = scale_layer(x)

# The base model contains batchnorm layers. We want to keep them in inference mode
# when we unfreeze the base model for fine-tuning, so we make sure that the
# base_model is running in inference mode here.
x = base_model(x, training=False)
x = keras.layers.GlobalAveragePooling2D()(x)
x = keras.layers.Dropout(0.2)(x)  # Regularize with dropout
if num_classes == 2:  # the guide's cats and dogs
    outputs = keras.layers.Dense(1)(x)
    loss, metric = keras.losses.BinaryCrossentropy(from_logits=True), keras.metrics.BinaryAccuracy()
else:
    outputs = keras.layers.Dense(num_classes)(x)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    metric = keras.metrics.SparseCategoricalAccuracy()
model = keras.Model(inputs, outputs).to(args.device)

model.summary(show_trainable=True)

model.compile(optimizer=keras.optimizers.Adam(), loss=loss, metrics=[metric])

print("Fitting the top layer of the model")
model.fit(train_ds, epochs=args.epochs, validation_data=validation_ds)

# Unfreeze the base_model. Note that it keeps running in inference mode
# since we passed `training=False` when calling it. This means that
# the batchnorm layers will not update their batch statistics.
# This prevents the batchnorm layers from undoing all the training
# we've done so far.
base_model.trainable = True
model.summary(show_trainable=True)

model.compile(
    optimizer=keras.optimizers.Adam(1e-5),  # Low learning rate
    loss=loss,
    metrics=[metric],
)

print("Fitting the end-to-end model")
model.fit(train_ds, epochs=1, validation_data=validation_ds)

print("Test dataset evaluation")
model.evaluate(validation_ds)
