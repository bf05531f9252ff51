"""TensorFlow's "Transfer learning and fine-tuning" tutorial (cats and dogs, MobileNetV2) on a
folder of photos: MobileNetV2 pretrained on ImageNet as a frozen feature extractor with a new
classifier head, then its top layers (from layer 100 on) fine-tuned at a tenth of the learning
rate. Ported by changing its imports (``tf.keras`` -> ``autoconv``, ``tf.where`` ->
``keras.ops.where``) and reading one folder of two classes, split 80/20, where the tutorial
downloads its own:

    python examples/transfer_learning_mobilenet.py PHOTOS [--weights imagenet|PATH|none]
        [--size 160] [--epochs 10] [--fine-tune-epochs 10] [--batch-size 32]

Original: https://www.tensorflow.org/tutorials/images/transfer_learning
"""

import argparse

import autoconv as keras

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("photos", help="a folder with two sub-folders of images, one per class")
parser.add_argument("--weights", default="imagenet", help="imagenet, a weights file, or none")
parser.add_argument("--size", type=int, default=160, help="image height and width (>= 32)")
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--fine-tune-epochs", type=int, default=10)
parser.add_argument("--batch-size", type=int, default=32)
args = parser.parse_args()

BATCH_SIZE = args.batch_size
IMG_SIZE = (args.size, args.size)

train_dataset, validation_dataset = keras.utils.image_dataset_from_directory(
    args.photos,
    validation_split=0.2,
    subset="both",
    seed=123,
    shuffle=True,
    batch_size=BATCH_SIZE,
    image_size=IMG_SIZE,
)
class_names = train_dataset.class_names

val_batches = validation_dataset.cardinality()
test_dataset = validation_dataset.take(max(val_batches // 5, 1))  # (at least one batch)
validation_dataset = validation_dataset.skip(max(val_batches // 5, 1))
print(f"Number of validation batches: {validation_dataset.cardinality()}")
print(f"Number of test batches: {test_dataset.cardinality()}")

AUTOTUNE = keras.data.AUTOTUNE
train_dataset = train_dataset.prefetch(buffer_size=AUTOTUNE)
validation_dataset = validation_dataset.prefetch(buffer_size=AUTOTUNE)
test_dataset = test_dataset.prefetch(buffer_size=AUTOTUNE)

data_augmentation = keras.Sequential(
    [keras.layers.RandomFlip("horizontal"), keras.layers.RandomRotation(0.2)]
)
preprocess_input = keras.applications.mobilenet_v2.preprocess_input

# Create the base model from the pre-trained model MobileNet V2
IMG_SHAPE = (*IMG_SIZE, 3)
base_model = keras.applications.MobileNetV2(
    input_shape=IMG_SHAPE,
    include_top=False,
    weights=None if args.weights == "none" else args.weights,
)

image_batch, label_batch = next(iter(train_dataset))
feature_batch = base_model(image_batch)
print(feature_batch.shape)

base_model.trainable = False

global_average_layer = keras.layers.GlobalAveragePooling2D()
feature_batch_average = global_average_layer(feature_batch)
print(feature_batch_average.shape)

prediction_layer = keras.layers.Dense(1, activation="sigmoid")
prediction_batch = prediction_layer(feature_batch_average)
print(prediction_batch.shape)

inputs = keras.Input(shape=IMG_SHAPE)
x = data_augmentation(inputs)
x = preprocess_input(x)
x = base_model(x, training=False)
x = global_average_layer(x)
x = keras.layers.Dropout(0.2)(x)
outputs = prediction_layer(x)
model = keras.Model(inputs, outputs)

base_learning_rate = 0.0001
model.compile(
    optimizer=keras.optimizers.Adam(learning_rate=base_learning_rate),
    loss=keras.losses.BinaryCrossentropy(),
    metrics=[keras.metrics.BinaryAccuracy(threshold=0.5, name="accuracy")],
)
print(len(model.trainable_variables))

initial_epochs = args.epochs
loss0, accuracy0 = model.evaluate(validation_dataset)
print(f"initial loss: {loss0:.2f}")
print(f"initial accuracy: {accuracy0:.2f}")

history = model.fit(train_dataset, epochs=initial_epochs, validation_data=validation_dataset)

base_model.trainable = True

# Let's take a look to see how many layers are in the base model
print("Number of layers in the base model: ", len(base_model.layers))

# Fine-tune from this layer onwards
fine_tune_at = 100

# Freeze all the layers before the `fine_tune_at` layer
for layer in base_model.layers[:fine_tune_at]:
    layer.trainable = False

model.compile(
    loss=keras.losses.BinaryCrossentropy(),
    optimizer=keras.optimizers.RMSprop(learning_rate=base_learning_rate / 10),
    metrics=[keras.metrics.BinaryAccuracy(threshold=0.5, name="accuracy")],
)
print(len(model.trainable_variables))

fine_tune_epochs = args.fine_tune_epochs
total_epochs = initial_epochs + fine_tune_epochs

history_fine = model.fit(
    train_dataset,
    epochs=total_epochs,
    initial_epoch=len(history.epoch),
    validation_data=validation_dataset,
)

loss, accuracy = model.evaluate(test_dataset)
print("Test accuracy :", accuracy)

# Retrieve a batch of images from the test set
image_batch, label_batch = test_dataset.as_numpy_iterator().next()
predictions = model.predict_on_batch(image_batch).flatten()

# Apply a sigmoid since our model returns logits
predictions = keras.ops.where(predictions < 0.5, 0, 1)

print("Predictions:\n", predictions)
print("Labels:\n", label_batch)
